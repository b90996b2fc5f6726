"""What each command does, as library functions over the layers below: train,
evaluate, predict, gradcheck."""

"""Every picture nnctl draws: weights, learning curves, confusion, the lecture's figures."""

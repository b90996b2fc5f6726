"""make bench: nnctl's speed and memory beside PyTorch and scikit-learn (see README.md)."""

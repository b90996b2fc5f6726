"""nnctl: train, evaluate and explain digit classifiers, per-example SGD as in the lecture."""

__version__ = "0.1.0"

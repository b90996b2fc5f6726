"""nnctl: train, evaluate and explain digit classifiers, per-example SGD as in the lecture."""

from nnctl.version import __version__ as __version__

"""The engine boundary: what `run_chunk` takes and returns (shared by both engines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class ChunkResult(NamedTuple):
    """What training a chunk of examples gave: summed loss, argmax mistakes, and the number of
    examples whose step changed the weights (backprop: every one; the perceptron: only those
    it misclassified)."""

    loss: float
    mistakes: int
    updates: int


# run_chunk(indices, eta, inputs=None, keep=None) trains the examples `indices` in that order,
# per example, in place, on their inputs x[indices] or on `inputs` (row k for indices[k]:
# distorted or dropped-out images), with hidden dropout factors keep[k] (core/dropout.py) if given;
# it raises errors.Diverged at the first example whose loss is not finite.
RunChunk = Callable[..., ChunkResult]

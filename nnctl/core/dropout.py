"""Inverted dropout (Srivastava et al. 2014): while training, each input pixel and each hidden
unit is dropped for an example with chance p (training.dropout.input, .hidden), and the ones kept
are scaled by 1 / (1 - p), so that nothing changes at evaluation.

A mask is a row of keep factors, 0 (dropped) or 1 / (1 - p) (kept): a^[l] = f(z^[l]) * keep^[l],
and backprop's delta^[l] is multiplied by the same keep^[l] (da^[l]/dz^[l] = f'(z^[l]) keep^[l]).
The masks of an epoch's examples are drawn from a generator of the run's (seed, epoch, block of
BLOCK positions), as the distortions are (augment.ChunkDistorter): both engines, whatever their
chunk size, and a run resumed anywhere see the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnctl.core.distortions import BLOCK

STREAM = 1  # appended to (seed, epoch, block): the masks' generators differ from the distortions'


@dataclass(frozen=True)
class Dropout:
    input: float  # p of an input pixel
    hidden: float  # p of a hidden unit


def config_dropout(config) -> Dropout | None:
    """The config's training.dropout, or None when nothing is dropped."""
    d = config.training.dropout
    return Dropout(d.input, d.hidden) if d.input > 0 or d.hidden > 0 else None


def keep_factors(p: float, shape: tuple[int, ...], rng: np.random.Generator,
                 dtype) -> np.ndarray:
    """Keep factors: 0 with chance p, 1 / (1 - p) otherwise."""
    kept = rng.random(shape, dtype=np.float32) >= np.float32(p)
    return kept * np.asarray(1.0 / (1.0 - p), dtype=dtype)


def hidden_offsets(sizes: list[int]) -> np.ndarray:
    """Where hidden layer l's keep factors start in a row of them: offsets[l] for l = 1..L-1
    (offsets[L] is the row's length)."""
    offsets = np.zeros(len(sizes), dtype=np.int64)
    offsets[2:] = np.cumsum(sizes[1:-1])
    return offsets


def layer_keeps(keep: np.ndarray, sizes: list[int]) -> list:
    """One example's row of hidden keep factors as keep^[l] per layer: [None, keep^[1], ...,
    keep^[L-1]] (views of the row), indexed by l as the reference engine's lists are."""
    return [None, *np.split(keep, hidden_offsets(sizes)[2:-1])]


class ChunkMasks:
    """The dropout masks of a chunk of an epoch: `draw(epoch, start, count)` gives the input
    keep factors (count x inputs, or None) and the hidden ones (count x all hidden units, layer
    by layer as `hidden_offsets` says, or None) of the examples at positions start, start + 1, ...
    (start a multiple of BLOCK)."""

    def __init__(self, dropout: Dropout, sizes: list[int], seed: int, dtype):
        self.dropout, self.sizes, self.seed, self.dtype = dropout, list(sizes), seed, dtype
        self.hidden_units = int(sum(sizes[1:-1]))

    def draw(self, epoch: int, start: int, count: int
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
        p_in, p_hidden = self.dropout.input, self.dropout.hidden
        inputs = np.empty((count, self.sizes[0]), self.dtype) if p_in > 0 else None
        hidden = np.empty((count, self.hidden_units), self.dtype) if p_hidden > 0 else None
        for offset in range(0, count, BLOCK):
            rows = min(BLOCK, count - offset)
            rng = np.random.default_rng([self.seed, epoch, (start + offset) // BLOCK, STREAM])
            if inputs is not None:
                inputs[offset : offset + rows] = keep_factors(p_in, (rows, self.sizes[0]), rng,
                                                              self.dtype)
            if hidden is not None:
                hidden[offset : offset + rows] = keep_factors(
                    p_hidden, (rows, self.hidden_units), rng, self.dtype)
        return inputs, hidden

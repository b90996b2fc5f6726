"""Inverted dropout (Srivastava et al. 2014): while training, each input pixel and each hidden
unit is dropped for an example with chance p (training.dropout.input, .hidden), and the ones kept
are scaled by 1 / (1 - p), so that nothing changes at evaluation.

A mask is a row of keep factors, 0 (dropped) or 1 / (1 - p) (kept): a^[l] = f(z^[l]) * keep^[l],
and backprop's delta^[l] is multiplied by the same keep^[l] (da^[l]/dz^[l] = f'(z^[l]) keep^[l]).
The masks of an epoch's examples are drawn from the run's random streams (core/streams.py), as
the distortions are, by engine/inputs.py's ChunkMasks: both engines, whatever their chunk size,
and a run resumed anywhere see the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Dropout:
    input: float  # p of an input pixel
    hidden: float  # p of a hidden unit


def config_dropout(config: Any) -> Dropout | None:
    """A validated Config's training.dropout, or None when nothing is dropped."""
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


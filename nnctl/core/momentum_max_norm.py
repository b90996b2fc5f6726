"""Momentum and the max-norm constraint (Srivastava et al. 2014), two changes to backprop's step
that leave its gradient as it is.

Momentum mu (0 <= mu < 1; 0 = off): each weight keeps a velocity, the step it took last,
    v^[l] <- mu v^[l] - eta delta^[l] a^[l-1]T,    W^[l] <- W^[l] + v^[l],
and the bias likewise with its own velocity (v_b^[l] <- mu v_b^[l] - eta delta^[l]).

Max-norm c (c > 0; 0 = off): after each example's update, every hidden unit j of every hidden
layer l < L whose incoming weights W^[l]_j (row j of W^[l]) are longer than c is scaled back:
    if ||W^[l]_j||_2 > c:  W^[l]_j <- c W^[l]_j / ||W^[l]_j||_2
(not its bias, not the output layer's units, not the velocity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StepOptions:
    momentum: float  # mu; 0 = plain gradient steps
    max_norm: float  # c; 0 = no constraint


def config_step_options(config: Any) -> StepOptions | None:
    """A validated Config's training.momentum and training.max_norm, or None when both are off."""
    t = config.training
    return StepOptions(t.momentum, t.max_norm) if t.momentum > 0 or t.max_norm > 0 else None


@dataclass
class Velocity:
    """v^[l] and v_b^[l] for l = 1..L (lists indexed from 0, as Network's weights and biases)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]


def zero_velocity(weights: list[np.ndarray], biases: list[np.ndarray]) -> Velocity:
    """v = 0 for every weight and bias: where momentum starts."""
    return Velocity([np.zeros_like(W) for W in weights], [np.zeros_like(b) for b in biases])


def momentum_step(W: np.ndarray, v: np.ndarray, step: np.ndarray, mu) -> None:
    """v <- mu v - step;  W <- W + v, in place (step = eta dJ/dW: eta delta a^T, or eta delta)."""
    v *= mu
    v -= step
    W += v


def max_norm(W: np.ndarray, c) -> None:
    """Every row W_j (a unit's incoming weights) with ||W_j||_2 > c becomes c W_j / ||W_j||_2, in
    place."""
    norms = np.sqrt(np.einsum("ji,ji->j", W, W))
    over = norms > c
    if over.any():
        W[over] *= (c / norms[over])[:, None]

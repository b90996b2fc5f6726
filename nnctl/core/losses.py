"""Losses and the last layer's delta = d loss / d z^[L], as plain functions in tables.

LOSSES[name](a, y) is the loss of one example (a vector) or of each row of a batch, where a is the
network's output a^[L] = psi(z^[L]) and y the target. OUTPUT_DELTAS[(loss, output)](a, y) is the
lecture's delta^[L] for that output function psi: the chain rule through psi done once, by hand.
"""

from __future__ import annotations

import numpy as np


def _log(p: np.ndarray) -> np.ndarray:
    """log(p) with p clipped away from 0, so that a saturated output gives a large finite loss."""
    return np.log(np.maximum(p, np.finfo(p.dtype).tiny))


def cross_entropy(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Categorical cross-entropy -sum_k y_k log a_k, for softmax outputs and one-hot y."""
    return -(y * _log(a)).sum(axis=-1)


def binary_cross_entropy(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Summed binary cross-entropy, one independent yes/no per sigmoid output unit."""
    return -(y * _log(a) + (1 - y) * _log(1 - a)).sum(axis=-1)


def squared_error(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1/2 sum_k (a_k - y_k)^2: with one linear unit its gradient is the delta rule's."""
    d = a - y
    return 0.5 * (d * d).sum(axis=-1)


def perceptron_criterion(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The perceptron criterion sum_k max(0, -y_k a_k) for targets y = +-1 (J_n on the slide)."""
    return np.maximum(-y * a, 0).sum(axis=-1)


LOSSES = {
    "cross_entropy": cross_entropy,
    "squared_error": squared_error,
    "perceptron": perceptron_criterion,
}


def loss_function(loss: str, output: str):
    """The loss of a network: cross-entropy of sigmoid outputs is the summed binary one."""
    if loss == "cross_entropy" and output == "sigmoid":
        return binary_cross_entropy
    return LOSSES[loss]


def delta_output_minus_target(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return a - y


def delta_squared_error_sigmoid(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (a - y) * a * (1 - a)  # dloss/da * psi'(z), psi'(z) = a(1 - a)


def delta_squared_error_softmax(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    g = a - y  # dloss/da; softmax's Jacobian is diag(a) - a a^T
    return a * (g - (g * a).sum(axis=-1, keepdims=True))


# delta^[L] = d loss / d z^[L] for each (loss, output) pair that makes sense. Cross-entropy with an
# identity output has no probabilities to take the log of, so it is not here (config refuses it).
OUTPUT_DELTAS = {
    ("cross_entropy", "softmax"): delta_output_minus_target,
    ("cross_entropy", "sigmoid"): delta_output_minus_target,
    ("squared_error", "identity"): delta_output_minus_target,
    ("squared_error", "sigmoid"): delta_squared_error_sigmoid,
    ("squared_error", "softmax"): delta_squared_error_softmax,
}

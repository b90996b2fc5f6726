"""Activation functions f and their derivatives f', side by side, as plain functions in tables.

Hidden layers use phi = ACTIVATIONS[name] with derivative DERIVATIVES[name] (both of z, as on the
lecture's slide "Activations and their derivatives"). The output layer uses psi = OUTPUTS[name];
its derivative is folded into the last layer's delta (see losses.OUTPUT_DELTAS).
Every function works on a vector or on a batch of row vectors.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-z)), and exp(z) / (1 + exp(z)) for z < 0: exp never overflows.
    e = np.exp(-np.abs(z))
    s = 1.0 / (1.0 + e)
    return np.where(z >= 0, s, e * s)


def d_sigmoid(z: np.ndarray) -> np.ndarray:
    s = sigmoid(z)
    return s * (1.0 - s)  # f'(z) = f(z)(1 - f(z))


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


def d_tanh(z: np.ndarray) -> np.ndarray:
    t = np.tanh(z)
    return 1.0 - t * t  # f'(z) = 1 - f(z)^2


# LeCun et al. (1998), used by Cireșan et al. (2010): tanh stretched so that f(1) = -f(-1) = 1 to
# six digits, with f'(0) = A B, about 1.14.
SCALED_TANH_A, SCALED_TANH_B = 1.7159, 2.0 / 3.0


def scaled_tanh(z: np.ndarray) -> np.ndarray:
    return SCALED_TANH_A * np.tanh(SCALED_TANH_B * z)  # f(z) = A tanh(B z)


def d_scaled_tanh(z: np.ndarray) -> np.ndarray:
    t = np.tanh(SCALED_TANH_B * z)
    return SCALED_TANH_A * SCALED_TANH_B * (1.0 - t * t)  # f'(z) = A B (1 - tanh(B z)^2)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def d_relu(z: np.ndarray) -> np.ndarray:
    return (z >= 0).astype(z.dtype)  # f'(z) = 1 for z >= 0, 0 for z < 0 (the slide's convention)


def softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z).astype(z.dtype, copy=False)  # log(1 + exp(z)) without overflow


def d_softplus(z: np.ndarray) -> np.ndarray:
    return sigmoid(z)  # f'(z) = 1 / (1 + exp(-z))


def identity(z: np.ndarray) -> np.ndarray:
    return z


def d_identity(z: np.ndarray) -> np.ndarray:
    return np.ones_like(z)


ACTIVATIONS = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "scaled_tanh": scaled_tanh,
    "relu": relu,
    "softplus": softplus,
    "identity": identity,
}
DERIVATIVES = {
    "sigmoid": d_sigmoid,
    "tanh": d_tanh,
    "scaled_tanh": d_scaled_tanh,
    "relu": d_relu,
    "softplus": d_softplus,
    "identity": d_identity,
}


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z_k) / sum_j exp(z_j) over the last axis, shifted by max(z) so that exp cannot
    overflow."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


OUTPUTS = {
    "softmax": softmax,
    "sigmoid": sigmoid,
    "identity": identity,
}

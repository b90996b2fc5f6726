"""The network's parameters W^[l], b^[l] for l = 1..L, the forward pass in matrix form, init
schemes.

W^[l] has shape (d^[l], d^[l-1]) as on the slides (row j holds the weights w_ji of unit j), and
b^[l] is the bias, the lecture's weight w_j0 on a constant input 1 (the extended notation), kept as
its own vector. Python lists are 0-based, so W^[l] is `weights[l - 1]`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from nnctl.core.activations import ACTIVATIONS, OUTPUTS


def lecun(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), (fan_out, fan_in))  # variance 1 / fan_in


def xavier(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot & Bengio's uniform
    return rng.uniform(-limit, limit, (fan_out, fan_in))


def he(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), (fan_out, fan_in))  # variance 2 / fan_in


def normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(0.0, 1.0, (fan_out, fan_in))


def uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, (fan_out, fan_in))


def zeros(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    return np.zeros((fan_out, fan_in))


# Each scheme draws W^[l]; model.init.scale multiplies it. Biases start at zero.
INITIALIZERS = {
    "lecun": lecun,
    "xavier": xavier,
    "he": he,
    "normal": normal,
    "uniform": uniform,
    "zeros": zeros,
}


ROWS_AT_ONCE = 1024  # rows of z an activation is applied to at a time


def _in_place_by_rows(f, z: np.ndarray) -> np.ndarray:
    """f(z) written over z, ROWS_AT_ONCE rows at a time: f works unit by unit, so the numbers are
    f(z)'s, and its temporaries are those of a few rows, not of the whole batch (a 10,000-row
    batch of 300 units would hold about four 12 MB ones at once)."""
    for i in range(0, len(z), ROWS_AT_ONCE):
        z[i : i + ROWS_AT_ONCE] = f(z[i : i + ROWS_AT_ONCE])
    return z


@dataclass
class Network:
    """A feed-forward network: hidden layers use `activation` (phi), the last layer `output`
    (psi)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    output: str

    @property
    def sizes(self) -> list[int]:
        """[d^[0], d^[1], ..., d^[L]]: inputs, hidden units, outputs."""
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z^[L] for a batch of inputs (one per row): z^[l] = W^[l] a^[l-1] + b^[l],
        a^[l] = f(z^[l])."""
        a = x
        for W, b in zip(self.weights[:-1], self.biases[:-1]):
            z = a @ W.T
            z += b
            a = _in_place_by_rows(ACTIVATIONS[self.activation], z)
        return a @ self.weights[-1].T + self.biases[-1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """a^[L] = psi(z^[L]) for a batch of inputs (one per row)."""
        return OUTPUTS[self.output](self.logits(x))

    def copy(self) -> Network:
        return Network(
            [W.copy() for W in self.weights], [b.copy() for b in self.biases],
            self.activation, self.output,
        )


def init_network(
    sizes: list[int],
    activation: str,
    output: str,
    scheme: str,
    scale: float,
    rng: np.random.Generator,
    dtype: str = "float32",
) -> Network:
    """Draw W^[l] for each layer from the named scheme (in float64, then cast), biases zero.
    A weight beyond the dtype's range becomes infinite, without numpy's warnings: callers check
    (`config.check_initial_network`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        weights = [
            (scale * INITIALIZERS[scheme](fan_in, fan_out, rng)).astype(dtype)
            for fan_in, fan_out in itertools.pairwise(sizes)
        ]
    biases = [np.zeros(fan_out, dtype=dtype) for fan_out in sizes[1:]]
    return Network(weights, biases, activation, output)

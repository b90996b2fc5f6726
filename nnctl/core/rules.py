"""The single-layer learning rules of the lecture, and the targets each rule learns.

Each rule updates one layer of linear units in place for one example (x, y) and returns the
example's loss, the scores z = W x + b computed before the update, and whether it changed the
weights (the perceptron leaves them alone on an example it already classifies right). The bias is
the weight on a constant input x_0 = 1, so it moves exactly like the other weights.
"""

from __future__ import annotations

import numpy as np


def perceptron(W: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, eta
               ) -> tuple[float, np.ndarray, bool]:
    """Rosenblatt: for every unit k with sign(w_k^T x) != y_k, w_k <- w_k + eta y_k x."""
    z = W @ x + b
    wrong = y * z <= 0  # a score of exactly 0 has no sign: counted as a mistake
    # J_n = -w^T x y, summed over the misclassified units
    loss = float(-(y[wrong] * z[wrong]).sum())
    changed = bool(wrong.any())
    if changed:
        W[wrong] += np.outer(eta * y[wrong], x)
        b[wrong] += eta * y[wrong]
    return loss, z, changed


def delta(W: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, eta
          ) -> tuple[float, np.ndarray, bool]:
    """Widrow-Hoff (LMS, ADALINE): w_k <- w_k + eta (y_k - w_k^T x) x for every unit k."""
    z = W @ x + b
    error = y - z
    W += np.outer(eta * error, x)
    b += eta * error
    return float(0.5 * (error * error).sum()), z, bool(error.any())


SINGLE_LAYER_RULES = {"perceptron": perceptron, "delta": delta}


def one_hot(labels: np.ndarray, classes: int, dtype: str) -> np.ndarray:
    """y_k = 1 for the true class, 0 elsewhere (backprop's targets)."""
    return np.eye(classes, dtype=dtype)[labels]


def plus_minus_one(labels: np.ndarray, classes: int, dtype: str) -> np.ndarray:
    """y_k = +1 for the true class, -1 elsewhere: one-vs-rest targets for threshold units."""
    return 2 * one_hot(labels, classes, dtype) - 1


TARGETS = {"backprop": one_hot, "perceptron": plus_minus_one, "delta": plus_minus_one}

"""The reference engine: per-example SGD written as the lecture's backpropagation algorithm.

For each training example: (1) feed forward, keeping z^[l] and a^[l]; (2) the backward step,
delta^[L] = d loss / d z^[L], then delta^[l-1] = f'(z^[l-1]) * W^[l]T delta^[l]; (3) update every
weight, W^[l] <- W^[l] - eta delta^[l] a^[l-1]T (and the bias, the weight on a^[l-1]_0 = 1).
Layers are numbered 1..L as on the slides: W[l] is W^[l], a[0] is the input x.
With dropout (core/dropout.py) a hidden layer's output is a^[l] = f(z^[l]) * keep^[l], and its
delta^[l] carries the same factor. With momentum and max-norm (core/momentum_max_norm.py) step 3
moves the weights by their velocity, and the hidden units' incoming weights are then bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from nnctl.core.activations import ACTIVATIONS, DERIVATIVES, OUTPUTS
from nnctl.core.dropout import layer_keeps
from nnctl.core.losses import OUTPUT_DELTAS, loss_function
from nnctl.core.momentum_max_norm import (
    StepOptions,
    Velocity,
    max_norm,
    momentum_step,
    zero_velocity,
)
from nnctl.core.network import Network
from nnctl.core.rules import SINGLE_LAYER_RULES
from nnctl.engine.boundary import ChunkResult, RunChunk
from nnctl.errors import Diverged


class Functions(NamedTuple):
    """The functions backprop takes from the tables for one network: f and f' of the hidden
    layers, the output function psi, the example's loss J, and delta^[L] = dJ/dz^[L]."""

    f: Callable
    f_prime: Callable
    psi: Callable
    loss: Callable
    delta_L: Callable


def functions(activation: str, output: str, loss: str) -> Functions:
    """The Functions of a network with this activation, output function and loss."""
    return Functions(ACTIVATIONS[activation], DERIVATIVES[activation], OUTPUTS[output],
                     loss_function(loss, output), OUTPUT_DELTAS[(loss, output)])


def backprop(W: list, b: list, x: np.ndarray, y: np.ndarray, eta, fn: Functions,
             keep: list | None = None) -> tuple[float, np.ndarray, bool]:
    """One example of per-example gradient descent, the lecture's three steps; returns the
    example's loss, its output a^[L], and True (backprop always steps). `keep[l]` are hidden
    layer l's dropout factors (0 or 1 / (1 - p)), if any."""
    z, a = forward(W, b, x, fn, keep)
    deltas = backward(W, z, a, y, fn, keep)
    update(W, b, a, deltas, eta)
    L = len(W) - 1
    return float(fn.loss(a[L], y)), a[L], True


def forward(W: list, b: list, x: np.ndarray, fn: Functions, keep: list | None = None
            ) -> tuple[list, list]:
    """1. z^[l] = W^[l] a^[l-1] + b^[l], a^[l] = f(z^[l]) (psi at the last layer); a^[0] = x.
    With dropout, a^[l] = f(z^[l]) * keep^[l]."""
    L = len(W) - 1
    z, a = [None] * (L + 1), [x] + [None] * L
    for l in range(1, L + 1):
        z[l] = W[l] @ a[l - 1] + b[l]
        a[l] = fn.psi(z[l]) if l == L else fn.f(z[l])
        if keep is not None and l < L:
            a[l] = a[l] * keep[l]
    return z, a


def backward(W: list, z: list, a: list, y: np.ndarray, fn: Functions, keep: list | None = None
             ) -> list:
    """2. The sensitivities delta^[l] = dJ/dz^[l], from the last layer down:
    delta^[L] from the loss and psi, then delta^[l-1] = f'(z^[l-1]) * W^[l]T delta^[l]
    (with the weights as they were in the forward pass: nothing is updated before step 3).
    With dropout, delta^[l-1] is also multiplied by keep^[l-1]."""
    L = len(W) - 1
    delta = [None] * (L + 1)
    delta[L] = fn.delta_L(a[L], y)
    for l in range(L, 1, -1):
        delta[l - 1] = fn.f_prime(z[l - 1]) * (W[l].T @ delta[l])
        if keep is not None:
            delta[l - 1] = delta[l - 1] * keep[l - 1]
    return delta


def update(W: list, b: list, a: list, delta: list, eta) -> None:
    """3. dJ/dW^[l] = delta^[l] a^[l-1]T and dJ/db^[l] = delta^[l] (the bias is the weight on a
    constant input 1): W^[l] <- W^[l] - eta delta^[l] a^[l-1]T, in place."""
    for l in range(1, len(W)):
        step = eta * delta[l]  # eta folded into delta first, as the compiled engine does
        W[l] -= np.outer(step, a[l - 1])
        b[l] -= step


def update_with_momentum(W: list, b: list, a: list, delta: list, eta, mu,
                         velocity: Velocity) -> None:
    """3. with momentum: v^[l] <- mu v^[l] - eta delta^[l] a^[l-1]T, W^[l] <- W^[l] + v^[l], and
    the bias with its own velocity, in place."""
    for l in range(1, len(W)):
        step = eta * delta[l]
        momentum_step(W[l], velocity.weights[l - 1], np.outer(step, a[l - 1]), mu)
        momentum_step(b[l], velocity.biases[l - 1], step, mu)


def bound_hidden_units(W: list, c) -> None:
    """Max-norm after the update: every hidden unit's incoming weights, W^[l]_j for l < L, are
    scaled back to length c where they are longer."""
    for l in range(1, len(W) - 1):
        max_norm(W[l], c)


def make(network: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray, rule: str,
         loss: str, options: StepOptions | None = None,
         velocity: Velocity | None = None) -> RunChunk:
    """A `run_chunk(indices, eta[, inputs, keep]) -> ChunkResult` that trains `network` in
    place on the examples `indices` (x[indices], or the chunk's own `inputs` rows: distorted or
    dropped-out images, or a streamed chunk's), `keep` holding each example's hidden dropout
    factors, if any. With `options` (backprop only), momentum moves the weights by `velocity`
    (updated in place) and max-norm bounds the hidden units after each example."""
    W = [None] + network.weights  # W[l] is W^[l]: the same arrays, updated in place
    b = [None] + network.biases
    if rule == "backprop" and options is not None:
        fn = functions(network.activation, network.output, loss)
        mu, c = network.dtype.type(options.momentum), network.dtype.type(options.max_norm)
        if velocity is None:
            velocity = zero_velocity(network.weights, network.biases)

        def step(x_n, y_n, eta, keep_n):
            keep = None if keep_n is None else layer_keeps(keep_n, network.sizes)
            z, a = forward(W, b, x_n, fn, keep)
            deltas = backward(W, z, a, y_n, fn, keep)
            if options.momentum > 0:
                update_with_momentum(W, b, a, deltas, eta, mu, velocity)
            else:
                update(W, b, a, deltas, eta)
            if options.max_norm > 0:
                bound_hidden_units(W, c)
            return float(fn.loss(a[-1], y_n)), a[-1], True
    elif rule == "backprop":
        fn = functions(network.activation, network.output, loss)

        def step(x_n, y_n, eta, keep_n):
            keep = None if keep_n is None else layer_keeps(keep_n, network.sizes)
            return backprop(W, b, x_n, y_n, eta, fn, keep)
    else:
        rule_update = SINGLE_LAYER_RULES[rule]

        def step(x_n, y_n, eta, keep_n):
            return rule_update(W[1], b[1], x_n, y_n, eta)

    def run_chunk(indices: np.ndarray, eta: float, inputs: np.ndarray | None = None,
                  keep: np.ndarray | None = None) -> ChunkResult:
        eta = network.dtype.type(eta)
        rows = x[indices] if inputs is None else np.asarray(inputs)  # floats
        total, mistakes, updates = 0.0, 0, 0
        with np.errstate(all="ignore"):  # a diverging loss is reported below, not warned about
            for done, n in enumerate(indices):
                keep_n = None if keep is None else keep[done]
                example_loss, scores, changed = step(rows[done], targets[n], eta, keep_n)
                if not math.isfinite(example_loss):
                    raise Diverged(done, example_loss)
                total += example_loss
                mistakes += int(scores.argmax() != labels[n])
                updates += changed
        return ChunkResult(total, mistakes, updates)

    return run_chunk

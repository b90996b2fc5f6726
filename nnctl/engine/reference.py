"""The reference engine: per-example SGD written as the lecture's backpropagation algorithm.

For each training example: (1) feed forward, keeping z^[l] and a^[l]; (2) the backward step,
delta^[L] = d loss / d z^[L], then delta^[l-1] = f'(z^[l-1]) * W^[l]T delta^[l]; (3) update every
weight, W^[l] <- W^[l] - eta delta^[l] a^[l-1]T (and the bias, the weight on a^[l-1]_0 = 1).
Layers are numbered 1..L as on the slides: W[l] is W^[l], a[0] is the input x.
"""

from __future__ import annotations

import math

import numpy as np

from nnctl.activations import ACTIVATIONS, DERIVATIVES, OUTPUTS
from nnctl.engine.boundary import ChunkResult, RunChunk
from nnctl.errors import Diverged
from nnctl.losses import OUTPUT_DELTAS, loss_function
from nnctl.network import Network
from nnctl.rules import RULES


def backprop(W: list, b: list, x: np.ndarray, y: np.ndarray, eta, f, f_prime, psi, loss, delta_L):
    """One example of per-example gradient descent; returns its loss, its output a^[L], and
    True (the weights moved: backprop always steps)."""
    L = len(W) - 1
    z = [None] * (L + 1)
    a = [x] + [None] * L
    # 1. forward: z^[l] = W^[l] a^[l-1] + b^[l], a^[l] = f(z^[l]) (psi at the last layer)
    for l in range(1, L + 1):
        z[l] = W[l] @ a[l - 1] + b[l]
        a[l] = psi(z[l]) if l == L else f(z[l])
    # 2. backward: the sensitivity delta^[l] = d loss / d z^[l], from the last layer down
    delta = delta_L(a[L], y)
    for l in range(L, 0, -1):
        delta_below = f_prime(z[l - 1]) * (W[l].T @ delta) if l > 1 else None
        # 3. d loss / d W^[l] = delta^[l] a^[l-1]T; step against it (eta folded into delta first)
        step = eta * delta
        W[l] -= np.outer(step, a[l - 1])
        b[l] -= step
        delta = delta_below
    return float(loss(a[L], y)), a[L], True


def make(network: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray, rule: str,
         loss: str) -> RunChunk:
    """A `run_chunk(indices, eta) -> ChunkResult` that trains `network` in place."""
    W = [None] + network.weights  # W[l] is W^[l]: the same arrays, updated in place
    b = [None] + network.biases
    if rule == "backprop":
        f, f_prime = ACTIVATIONS[network.activation], DERIVATIVES[network.activation]
        psi = OUTPUTS[network.output]
        loss_fn = loss_function(loss, network.output)
        delta_L = OUTPUT_DELTAS[(loss, network.output)]

        def step(n, eta):
            return backprop(W, b, x[n], targets[n], eta, f, f_prime, psi, loss_fn, delta_L)
    else:
        update = RULES[rule]

        def step(n, eta):
            return update(W[1], b[1], x[n], targets[n], eta)

    def run_chunk(indices: np.ndarray, eta: float) -> ChunkResult:
        eta = network.dtype.type(eta)
        total, mistakes, updates = 0.0, 0, 0
        with np.errstate(all="ignore"):  # a diverging loss is reported below, not warned about
            for done, n in enumerate(indices):
                example_loss, scores, changed = step(n, eta)
                if not math.isfinite(example_loss):
                    raise Diverged(done, example_loss)
                total += example_loss
                mistakes += int(scores.argmax() != labels[n])
                updates += changed
        return ChunkResult(total, mistakes, updates)

    return run_chunk

"""The compiled building blocks of the fused engine's two kernels, `fused.sgd_chunk` (one
thread) and `threads.sgd_chunk_parts` (two): the codes of the tables' names, the typed constants,
a layer's f and f' with dropout, the output layer's loss and delta^[L], the sparse passes of
layer 1, and the layout of the weights both kernels read (`PackedWeights`).

Each function is the equation of engine/reference.py (and of the tables in core/) that its
docstring names, over flat arrays; every constant comes in typed like the weights, so float32
arithmetic stays float32.

numba's cache (cache=True) knows only the file of the function it compiled: fused.py's and
threads.py's kernels, compiled with these helpers inside them, are not compiled again when only
this file changes. After changing it, delete the numba files in nnctl/engine/__pycache__ (*.nbi,
*.nbc) or touch fused.py and threads.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numba import njit

from nnctl.core.activations import SCALED_TANH_A, SCALED_TANH_B
from nnctl.core.network import Network

# The tables' names as codes the compiled loops branch on. Module-level integers are
# compile-time constants to numba, so each branch on them is chosen once per compilation. Adding
# an activation (a function and a dict entry in activations.py) needs a code here and a branch
# in activate and times_f_prime; tests/engine/test_fused.py checks that every table entry has a
# code.
SIGMOID, TANH, RELU, SOFTPLUS, IDENTITY, SCALED_TANH = range(6)  # phi
SOFTMAX_OUT, SIGMOID_OUT, IDENTITY_OUT = range(3)  # psi
CROSS_ENTROPY, SQUARED_ERROR, PERCEPTRON_CRITERION = range(3)  # loss
BACKPROP, PERCEPTRON_RULE, DELTA_RULE = range(3)  # rule
ACTIVATION_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "scaled_tanh": SCALED_TANH, "relu": RELU,
                    "softplus": SOFTPLUS, "identity": IDENTITY}
OUTPUT_CODES = {"softmax": SOFTMAX_OUT, "sigmoid": SIGMOID_OUT, "identity": IDENTITY_OUT}
LOSS_CODES = {"cross_entropy": CROSS_ENTROPY, "squared_error": SQUARED_ERROR,
              "perceptron": PERCEPTRON_CRITERION}
RULE_CODES = {"backprop": BACKPROP, "perceptron": PERCEPTRON_RULE, "delta": DELTA_RULE}
HALF, ONE, ZERO, TINY, TANH_A, TANH_B, TANH_AB, TANH_B_OVER_A = range(8)  # typed constants
PAD = 16  # rows of weights are padded to a multiple of this many (64 bytes of float32)


@njit(cache=True, inline="always")
def padded(n):
    """n rounded up to a multiple of PAD: rows of this many weights start on cache lines."""
    return -(-n // PAD) * PAD


@njit(cache=True, inline="always")
def _sigmoid(z, one):
    """As activations.sigmoid: 1 / (1 + exp(-z)), or exp(z) / (1 + exp(z)) for z < 0."""
    e = np.exp(-abs(z))
    s = one / (one + e)
    return s if z >= 0 else e * s


@njit(cache=True)
def activate(z, a, code, c):
    """a = phi(z) elementwise, as activations.ACTIVATIONS (one loop per function: it vectorizes)."""
    n, one, zero = z.shape[0], c[ONE], c[ZERO]  # locals: loads that stores cannot alias
    if code == SIGMOID:
        for j in range(n):
            a[j] = _sigmoid(z[j], one)
    elif code == TANH:
        for j in range(n):
            a[j] = np.tanh(z[j])
    elif code == SCALED_TANH:  # A tanh(B z)
        scale, gain = c[TANH_A], c[TANH_B]
        for j in range(n):
            a[j] = scale * np.tanh(gain * z[j])
    elif code == RELU:
        for j in range(n):
            a[j] = max(z[j], zero)
    elif code == SOFTPLUS:  # log(1 + exp(z)) as numpy's logaddexp(0, z)
        for j in range(n):
            a[j] = max(z[j], zero) + np.log1p(np.exp(-abs(z[j])))
    else:  # IDENTITY
        for j in range(n):
            a[j] = z[j]


@njit(cache=True)
def times_f_prime(z, a, g, code, c):
    """g = f'(z) * g elementwise, as activations.DERIVATIVES; f' from a = f(z) where that is
    exact."""
    n, one, zero = z.shape[0], c[ONE], c[ZERO]
    if code == SIGMOID:  # f'(z) = f(z)(1 - f(z))
        for i in range(n):
            g[i] = (a[i] * (one - a[i])) * g[i]
    elif code == TANH:  # f'(z) = 1 - f(z)^2
        for i in range(n):
            g[i] = (one - a[i] * a[i]) * g[i]
    elif code == SCALED_TANH:  # f'(z) = A B (1 - tanh(B z)^2) = A B - (B / A) f(z)^2
        slope, bend = c[TANH_AB], c[TANH_B_OVER_A]
        for i in range(n):
            g[i] = (slope - bend * (a[i] * a[i])) * g[i]
    elif code == RELU:
        for i in range(n):
            g[i] = (one if z[i] >= zero else zero) * g[i]
    elif code == SOFTPLUS:  # f'(z) = 1 / (1 + exp(-z))
        for i in range(n):
            g[i] = _sigmoid(z[i], one) * g[i]
    # IDENTITY: f'(z) = 1, g stays as it is


@njit(cache=True)
def _times_keep(f, keep, a):
    """a = f * keep elementwise: a layer's output with dropout (keep factors 0 or 1 / (1 - p))."""
    for j in range(a.shape[0]):
        a[j] = f[j] * keep[j]


@njit(cache=True, fastmath={"reassoc"})
def dot(w, x, c):
    """sum_i w_i x_i; the order of the sum is left to the compiler (BLAS does likewise)."""
    s = c[ZERO]  # the dtype's zero
    for i in range(w.shape[0]):
        s += w[i] * x[i]
    return s


@njit(cache=True, inline="always")
def argmax(a):
    """The first index of a's largest entry, as numpy's argmax: the network's predicted class."""
    best = 0
    for k in range(1, a.shape[0]):
        if a[k] > a[best]:
            best = k
    return best


@njit(cache=True, inline="always")
def _log(p, c):
    """log(p) with p clipped away from 0, as losses._log; a NaN stays NaN (max(TINY, NaN) would
    be TINY, hiding a diverged output behind a finite loss)."""
    return np.log(p if (np.isnan(p) or p > c[TINY]) else c[TINY])


@njit(cache=True, error_model="numpy")
def output_and_loss(zL, aL, y, out, loss, c):
    """a^[L] = psi(z^[L]) in place; returns the example's loss (losses.loss_function)."""
    d = zL.shape[0]
    if out == SOFTMAX_OUT:  # softmax, shifted by max z
        m = zL[0]
        for k in range(1, d):
            m = max(m, zL[k])
        total = c[ZERO]
        for k in range(d):
            aL[k] = np.exp(zL[k] - m)
            total += aL[k]
        for k in range(d):
            aL[k] = aL[k] / total
    elif out == SIGMOID_OUT:
        for k in range(d):
            aL[k] = _sigmoid(zL[k], c[ONE])
    else:
        for k in range(d):
            aL[k] = zL[k]
    value = c[ZERO]
    for k in range(d):
        if loss == CROSS_ENTROPY and out == SIGMOID_OUT:  # summed binary cross-entropy
            value -= y[k] * _log(aL[k], c) + (c[ONE] - y[k]) * _log(c[ONE] - aL[k], c)
        elif loss == CROSS_ENTROPY:
            if y[k] != c[ZERO]:  # one-hot targets: only the true class has a term
                value -= y[k] * _log(aL[k], c)
        elif loss == SQUARED_ERROR:
            value += c[HALF] * (aL[k] - y[k]) * (aL[k] - y[k])
        elif -y[k] * aL[k] > c[ZERO]:  # perceptron criterion
            value += -y[k] * aL[k]
    return value


@njit(cache=True, error_model="numpy")
def output_delta(aL, y, out, loss, delta, c):
    """delta^[L] = d loss / d z^[L], as losses.OUTPUT_DELTAS."""
    d = aL.shape[0]
    if loss == SQUARED_ERROR and out == SIGMOID_OUT:
        for k in range(d):
            delta[k] = (aL[k] - y[k]) * aL[k] * (c[ONE] - aL[k])
    elif loss == SQUARED_ERROR and out == SOFTMAX_OUT:
        g_dot_a = c[ZERO]
        for k in range(d):
            g_dot_a += (aL[k] - y[k]) * aL[k]
        for k in range(d):
            delta[k] = aL[k] * ((aL[k] - y[k]) - g_dot_a)
    else:
        for k in range(d):
            delta[k] = aL[k] - y[k]


@njit(cache=True)
def example_inputs(indptr, cols, vals, table, n, buffer):
    """Example n's non-zero inputs from the sparse rows: their columns (a slice of cols) and
    their values, copied into `buffer` (one row of inputs long): vals, or, where the rows hold
    pixel bytes, table[vals] (table: the input of each pixel value; else None). Copied either
    way, so that both give a float array: numba prunes `table is None` only where it is None."""
    p0, p1 = indptr[n], indptr[n + 1]
    k = p1 - p0
    if table is None:
        for p in range(k):
            buffer[p] = vals[p0 + p]
    else:
        for p in range(k):
            buffer[p] = table[vals[p0 + p]]
    return cols[p0:p1], buffer[:k]


@njit(cache=True)
def sparse_matvec(W, cols, vals, p0, p1, j0, j1, zero, z):
    """z[j0:j1] = sum over the non-zero inputs p of W[cols[p], j0:j1] * vals[p]: W^[1] x from
    W^[1]T's rows (its columns j0:j1: one part's units, or all of them).

    Rows are taken four at a time (one pass over z per four rows); W's rows are padded to a
    multiple of 16 so the vector loop has no scalar tail. The loops run over slices from 0:
    an index that cannot be negative needs no wraparound test, and the loop vectorizes.
    """
    z, width = z[j0:j1], j1 - j0
    for j in range(width):
        z[j] = zero
    p = p0
    while p + 4 <= p1:
        w0, w1 = W[cols[p], j0:j1], W[cols[p + 1], j0:j1]
        w2, w3 = W[cols[p + 2], j0:j1], W[cols[p + 3], j0:j1]
        v0, v1, v2, v3 = vals[p], vals[p + 1], vals[p + 2], vals[p + 3]
        for j in range(width):
            z[j] += (w0[j] * v0 + w1[j] * v1) + (w2[j] * v2 + w3[j] * v3)
        p += 4
    while p < p1:
        w, v = W[cols[p], j0:j1], vals[p]
        for j in range(width):
            z[j] += w[j] * v
        p += 1


@njit(cache=True)
def sparse_update(W, cols, vals, p0, p1, j0, j1, step):
    """W[cols[p], j0:j1] += step[j0:j1] * vals[p] for the non-zero inputs p: W^[1] += step x^T
    (on one part's units, or all), four rows at a time."""
    step, width = step[j0:j1], j1 - j0
    p = p0
    while p + 4 <= p1:
        w0, w1 = W[cols[p], j0:j1], W[cols[p + 1], j0:j1]
        w2, w3 = W[cols[p + 2], j0:j1], W[cols[p + 3], j0:j1]
        v0, v1, v2, v3 = vals[p], vals[p + 1], vals[p + 2], vals[p + 3]
        for j in range(width):
            s = step[j]
            w0[j] += s * v0
            w1[j] += s * v1
            w2[j] += s * v2
            w3[j] += s * v3
        p += 4
    while p < p1:
        w, v = W[cols[p], j0:j1], vals[p]
        for j in range(width):
            w[j] += step[j] * v
        p += 1


@njit(cache=True)
def hidden_output(z, f, a, keep, done, k0, act, c):
    """a^[l] = f(z^[l]); with dropout (keep not None) f(z^[l]) goes to f, kept for f', and
    a^[l] = f(z^[l]) * keep^[l], the example's keep factors keep[done, k0:]."""
    if keep is None:
        activate(z, a, act, c)
    else:
        activate(z, f, act, c)
        _times_keep(f, keep[done, k0 : k0 + z.shape[0]], a)


@njit(cache=True)
def hidden_delta(z, f, a, g, keep, done, k0, act, c):
    """delta^[l] = f'(z^[l]) * g in place of g = W^[l+1]T delta^[l+1]; with dropout, f' from
    f(z^[l]) and then times keep^[l] (keep[done, k0:])."""
    if keep is None:
        times_f_prime(z, a, g, act, c)
    else:
        times_f_prime(z, f, g, act, c)
        _times_keep(g, keep[done, k0 : k0 + g.shape[0]], g)


# A chunk's arguments for the kernels: (order, indptr, cols, vals, targets, labels, W1T, b1,
# params, w_off, b_off, sizes, eta, c, act, out, loss, rule, keep, k_off)
Kernel = Callable[..., tuple]


LINE = 64  # bytes in a cache line


def aligned_zeros(shape, dtype) -> np.ndarray:
    """np.zeros(shape, dtype) starting on a cache line."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    buffer = np.zeros(size + LINE // dtype.itemsize, dtype=dtype)
    start = (-buffer.ctypes.data % LINE) // dtype.itemsize
    return buffer[start : start + size].reshape(shape)


def typed_constants(dtype) -> np.ndarray:
    """The constants the kernels use, typed like the weights: c[HALF], c[ONE], c[ZERO],
    c[TINY], the smallest normal number, where logs are clipped, and scaled tanh's A, B, A B and
    B / A (c[TANH_A], c[TANH_B], c[TANH_AB], c[TANH_B_OVER_A]), each rounded once."""
    a, b = SCALED_TANH_A, SCALED_TANH_B
    return np.array([0.5, 1.0, 0.0, np.finfo(dtype).tiny, a, b, a * b, b / a], dtype=dtype)


class PackedWeights(NamedTuple):
    """A network's weights as the kernels read and update them (`pack_weights`), in the order
    of the kernels' arguments. W1T is W^[1] transposed (one row per input, padded with zero
    columns to a multiple of PAD) and b1 is b^[1] (padded); layer l >= 2 has W^[l] (its rows
    padded to padded(d_{l-1})) at params[w_off[l]:] and b^[l] at params[b_off[l]:], each row and
    each bias starting on a cache line (so do the two threads' pieces of them: see
    threads.two_parts)."""

    W1T: np.ndarray
    b1: np.ndarray
    params: np.ndarray
    w_off: np.ndarray
    b_off: np.ndarray


def pack_weights(network: Network) -> PackedWeights:
    """A copy of the network's weights and biases in the kernels' layout."""
    sizes, dtype, L = network.sizes, network.dtype, len(network.weights)
    w_off, b_off = np.zeros(L + 1, dtype=np.int64), np.zeros(L + 1, dtype=np.int64)
    offset = 0
    for l in range(2, L + 1):
        w_off[l] = offset
        offset += sizes[l] * padded(sizes[l - 1])
        b_off[l] = offset
        offset += padded(sizes[l])
    packed = PackedWeights(aligned_zeros((sizes[0], padded(sizes[1])), dtype),
                           aligned_zeros(padded(sizes[1]), dtype), aligned_zeros(offset, dtype),
                           w_off, b_off)
    for W, b, (W_packed, b_packed) in zip(network.weights, network.biases,
                                          _layers(packed, sizes)):
        W_packed[...] = W
        b_packed[...] = b
    return packed


def unpack_weights(packed: PackedWeights, network: Network) -> None:
    """Copy the packed weights and biases back into the network's arrays."""
    for W, b, (W_packed, b_packed) in zip(network.weights, network.biases,
                                          _layers(packed, network.sizes)):
        W[...] = W_packed
        b[...] = b_packed


def _layers(packed: PackedWeights, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W^[l], b^[l]) for l = 1..L as views of the packed arrays, without the padding."""
    W1T, b1, params, w_off, b_off = packed
    layers = [(W1T[:, : sizes[1]].T, b1[: sizes[1]])]
    for l in range(2, len(sizes)):
        W = params[w_off[l] : b_off[l]].reshape(sizes[l], -1)[:, : sizes[l - 1]]
        layers.append((W, params[b_off[l] : b_off[l] + sizes[l]]))
    return layers

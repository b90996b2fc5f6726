"""The fused engine: the reference engine's per-example SGD as one compiled loop (numba).

The same equations as engine/reference.py, step for step, for a whole chunk of examples per call,
with no Python and no temporary arrays per example. Only the order inside sums differs (as BLAS's
does from a plain loop), so the weights agree to rounding (tests/test_engines.py).

- The inputs are stored once in compressed sparse rows (an MNIST image is ~80% zeros). For
  per-example SGD a weight whose input is zero gets a zero gradient, so the first layer's forward
  product and its update touch only the non-zero pixels. This is exact: every update here is a
  gradient step with no term that moves a weight on a zero input (no weight decay, no momentum).
  A rule that added such a term would have to apply it lazily or use dense rows.
- The first layer is kept transposed (W^[1]T, one contiguous row per input pixel, padded with
  zero columns to a multiple of 16), so its forward accumulation and its update are vector
  operations over the hidden units, four pixel rows at a time.
- The other layers live in one flat buffer with offsets. The engine owns the weights while it
  trains and copies them back into the Network's arrays after every chunk, so checkpoints see
  the current weights.
- The sigmoid is 1 / (1 + exp(-z)) as in activations.py (exp is several times cheaper than tanh
  here), and f' is taken from a = f(z) where that gives the same number (sigmoid, tanh).
- Every constant comes in typed like the weights, so float32 arithmetic stays float32.
- Deep nets may run in two threads instead: engine/threads.py (sgd_chunk_parts), chosen by
  `parts.threads_for`.

numba is imported by the engine modules only; `nnctl --help` and `nnctl evaluate` never load it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from nnctl.core.dropout import hidden_offsets
from nnctl.core.network import Network
from nnctl.engine.boundary import ChunkResult, RunChunk
from nnctl.errors import Diverged

if TYPE_CHECKING:
    from nnctl.engine.threads import Schedule

# The tables' names as codes the compiled loop branches on. Module-level integers are
# compile-time constants to numba, so each branch below is chosen once per compilation. Adding an
# activation (a function and a dict entry in activations.py) needs a code here and a branch in
# _activate and _times_f_prime; tests/test_engines.py checks that every table entry has a code.
SIGMOID, TANH, RELU, SOFTPLUS, IDENTITY = range(5)  # phi
SOFTMAX_OUT, SIGMOID_OUT, IDENTITY_OUT = range(3)  # psi
CROSS_ENTROPY, SQUARED_ERROR, PERCEPTRON_CRITERION = range(3)  # loss
BACKPROP, PERCEPTRON_RULE, DELTA_RULE = range(3)  # rule
ACTIVATION_CODES = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU, "softplus": SOFTPLUS,
                    "identity": IDENTITY}
OUTPUT_CODES = {"softmax": SOFTMAX_OUT, "sigmoid": SIGMOID_OUT, "identity": IDENTITY_OUT}
LOSS_CODES = {"cross_entropy": CROSS_ENTROPY, "squared_error": SQUARED_ERROR,
              "perceptron": PERCEPTRON_CRITERION}
RULE_CODES = {"backprop": BACKPROP, "perceptron": PERCEPTRON_RULE, "delta": DELTA_RULE}
HALF, ONE, ZERO, TINY = 0, 1, 2, 3  # indices into the typed constants array
PAD = 16  # rows of weights are padded to a multiple of this many (64 bytes of float32)


@njit(cache=True, inline="always")
def _padded(n):
    """n rounded up to a multiple of PAD: rows of this many weights start on cache lines."""
    return -(-n // PAD) * PAD


@njit(cache=True, inline="always")
def _sigmoid(z, one):
    """As activations.sigmoid: 1 / (1 + exp(-z)), or exp(z) / (1 + exp(z)) for z < 0."""
    e = np.exp(-abs(z))
    s = one / (one + e)
    return s if z >= 0 else e * s


@njit(cache=True)
def _activate(z, a, code, c):
    """a = phi(z) elementwise, as activations.ACTIVATIONS (one loop per function: it vectorizes)."""
    n, one, zero = z.shape[0], c[ONE], c[ZERO]  # locals: loads that stores cannot alias
    if code == SIGMOID:
        for j in range(n):
            a[j] = _sigmoid(z[j], one)
    elif code == TANH:
        for j in range(n):
            a[j] = np.tanh(z[j])
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
def _times_f_prime(z, a, g, code, c):
    """g = f'(z) * g elementwise, as activations.DERIVATIVES; f' from a = f(z) where that is
    exact."""
    n, one, zero = z.shape[0], c[ONE], c[ZERO]
    if code == SIGMOID:  # f'(z) = f(z)(1 - f(z))
        for i in range(n):
            g[i] = (a[i] * (one - a[i])) * g[i]
    elif code == TANH:  # f'(z) = 1 - f(z)^2
        for i in range(n):
            g[i] = (one - a[i] * a[i]) * g[i]
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
def _dot(w, x, c):
    """sum_i w_i x_i; the order of the sum is left to the compiler (BLAS does likewise)."""
    s = c[ZERO]  # the dtype's zero
    for i in range(w.shape[0]):
        s += w[i] * x[i]
    return s


@njit(cache=True, inline="always")
def _argmax(a):
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
def _output_and_loss(zL, aL, y, out, loss, c):
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
def _output_delta(aL, y, out, loss, delta, c):
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
def _sparse_matvec(W, cols, vals, p0, p1, j0, j1, zero, z):
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
def _sparse_update(W, cols, vals, p0, p1, j0, j1, step):
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
def _hidden_output(z, f, a, keep, done, k0, act, c):
    """a^[l] = f(z^[l]); with dropout (keep not None) f(z^[l]) goes to f, kept for f', and
    a^[l] = f(z^[l]) * keep^[l], the example's keep factors keep[done, k0:]."""
    if keep is None:
        _activate(z, a, act, c)
    else:
        _activate(z, f, act, c)
        _times_keep(f, keep[done, k0 : k0 + z.shape[0]], a)


@njit(cache=True)
def _hidden_delta(z, f, a, g, keep, done, k0, act, c):
    """delta^[l] = f'(z^[l]) * g in place of g = W^[l+1]T delta^[l+1]; with dropout, f' from
    f(z^[l]) and then times keep^[l] (keep[done, k0:])."""
    if keep is None:
        _times_f_prime(z, a, g, act, c)
    else:
        _times_f_prime(z, f, g, act, c)
        _times_keep(g, keep[done, k0 : k0 + g.shape[0]], g)


@njit(cache=True, error_model="numpy", nogil=True)  # train.py prepares the next chunk meanwhile
def sgd_chunk(order, indptr, cols, vals, targets, labels, W1T, b1, params, w_off, b_off, sizes,
              eta, c, act, out, loss, rule, z, a, delta, below, step1, keep, k_off, f):
    """Per-example SGD over `order`; returns (summed loss, mistakes, updates, examples done,
    last loss); updates counts the examples whose step changed the weights.

    Updates the weights in place; stops before adding an example whose loss is not finite.

    W1T is W^[1] transposed (one row per input, padded with zero columns) and b1 its bias (padded);
    layer l >= 2 has W^[l] (out x in, its rows padded to _padded(in)) at params[w_off[l]:] and
    b^[l] at params[b_off[l]:].
    z[l], a[l] are rows of scratch buffers; delta and below hold delta^[l] and delta^[l-1];
    step1 is layer 1's step (its padding stays zero). With dropout `keep` (else None, and numba
    compiles the loop without dropout's branches), the hidden layers' outputs
    are a^[l] = f(z^[l]) * keep^[l], f(z^[l]) kept in f[l] for f', keep^[l] the example's keep
    factors keep[done, k_off[l]:] (chunk position `done`); delta^[l] gets the same factors.
    """
    L = sizes.shape[0] - 1
    zero = c[ZERO]  # a local: a load that the stores below cannot alias
    d1 = sizes[1]
    total_loss = 0.0
    mistakes = 0
    updates = 0
    for done in range(order.shape[0]):
        n = order[done]
        p0, p1 = indptr[n], indptr[n + 1]
        y = targets[n]
        # 1. forward. Layer 1 from the non-zero inputs only: z^[1] = W^[1] x + b^[1]
        z1, a1 = z[1], a[1]
        _sparse_matvec(W1T, cols, vals, p0, p1, 0, W1T.shape[1], zero, z1)
        for j in range(d1):
            z1[j] += b1[j]
        if L > 1:
            _hidden_output(z1[:d1], f[1, :d1], a1[:d1], keep, done, k_off[1], act, c)
        for l in range(2, L + 1):  # z^[l] = W^[l] a^[l-1] + b^[l]
            dl, dk, rk = sizes[l], sizes[l - 1], _padded(sizes[l - 1])
            zl, al, a_prev = z[l], a[l], a[l - 1]
            for j in range(dl):
                w = params[w_off[l] + j * rk : w_off[l] + j * rk + dk]
                zl[j] = _dot(w, a_prev[:dk], c) + params[b_off[l] + j]
            if l < L:
                _hidden_output(zl[:dl], f[l, :dl], al[:dl], keep, done, k_off[l], act, c)
        dL = sizes[L]
        example_loss = _output_and_loss(z[L, :dL], a[L, :dL], y, out, loss, c)
        if not np.isfinite(example_loss):
            return total_loss, mistakes, updates, done, float(example_loss)
        total_loss += example_loss
        if _argmax(a[L, :dL]) != labels[n]:
            mistakes += 1

        if rule != BACKPROP:  # the single-layer rules, each unit's step on x
            changed = False
            for k in range(dL):
                if rule == PERCEPTRON_RULE:  # w_k += eta y_k x where sign(w_k^T x) != y_k
                    step1[k] = eta * y[k] if y[k] * z1[k] <= zero else zero
                else:  # delta rule: w_k += eta (y_k - w_k^T x) x
                    step1[k] = eta * (y[k] - z1[k])
                changed = changed or step1[k] != zero
            updates += changed
        else:
            updates += 1
            # 2. backward: delta^[L], then delta^[l-1] = f'(z^[l-1]) * W^[l]T delta^[l]
            _output_delta(a[L, :dL], y, out, loss, delta[:dL], c)
            for l in range(L, 1, -1):
                dl, dk = sizes[l], sizes[l - 1]
                z_prev, a_prev = z[l - 1], a[l - 1]
                for i in range(dk):
                    below[i] = zero
                # W^[l]T delta^[l] and step 3's update of W^[l] -= (eta delta^[l]) a^[l-1]T in
                # one pass over W^[l] (it is read from memory once, not twice): each weight is
                # read for the product before it is updated, so delta^[l-1] uses the weights of
                # the forward pass, exactly as the reference engine's separate steps do.
                rk = _padded(dk)
                for j in range(dl):
                    w, dj = params[w_off[l] + j * rk : w_off[l] + j * rk + dk], delta[j]
                    step = eta * dj
                    for i in range(dk):
                        wi = w[i]
                        below[i] += wi * dj
                        w[i] = wi - step * a_prev[i]
                    params[b_off[l] + j] -= step
                _hidden_delta(z_prev[:dk], f[l - 1, :dk], a_prev[:dk], below[:dk], keep, done,
                              k_off[l - 1], act, c)
                for i in range(dk):
                    delta[i] = below[i]
            for j in range(d1):
                # W - (eta delta) x^T, written as W + (-(eta delta)) x^T
                step1[j] = -(eta * delta[j])
        # layer 1's update touches only the rows of the non-zero inputs
        _sparse_update(W1T, cols, vals, p0, p1, 0, W1T.shape[1], step1)
        for j in range(d1):
            b1[j] += step1[j]
    return total_loss, mistakes, updates, order.shape[0], 0.0


def to_sparse_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compressed sparse rows of x: row n's non-zeros are vals[indptr[n]:indptr[n+1]] at cols
    (in column order). Compiled: training with distortions builds them for every chunk."""
    return _sparse_rows(np.ascontiguousarray(x))


@njit(cache=True, nogil=True)
def _sparse_rows(x):
    n, d = x.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        count = 0
        for j in range(d):
            if x[i, j] != 0:
                count += 1
        indptr[i + 1] = indptr[i] + count
    cols = np.empty(indptr[n], dtype=np.int32)
    vals = np.empty(indptr[n], dtype=x.dtype)
    for i in range(n):
        p = indptr[i]
        for j in range(d):
            if x[i, j] != 0:
                cols[p] = j
                vals[p] = x[i, j]
                p += 1
    return indptr, cols, vals




def make(network: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray, rule: str,
         loss: str, threads: int | None = None, schedule: Schedule | None = None) -> RunChunk:
    """A `run_chunk(indices, eta[, inputs, keep]) -> ChunkResult` that trains `network` in
    place on the examples `indices` (their sparse rows of x, or the chunk's own dense `inputs`
    rows), with each example's hidden dropout factors `keep[k]`, if given.

    threads=1 runs sgd_chunk; threads=2 runs sgd_chunk_parts, in two threads or one as
    `schedule` says (default: `Pace`); None: as `threads_for` says for this network."""
    dtype = network.dtype
    sizes = np.array(network.sizes, dtype=np.int64)
    L = len(network.weights)
    d0, d1 = sizes[0], sizes[1]
    padded = _padded(d1)
    W1T = aligned_zeros((d0, padded), dtype)
    b1 = aligned_zeros(padded, dtype)
    # W^[l], l >= 2, row j at params[w_off[l] + j * _padded(d_{l-1}):], each row and each bias
    # starting on a cache line (so do the two threads' pieces of them: see _two_parts)
    w_off = np.zeros(L + 1, dtype=np.int64)
    b_off = np.zeros(L + 1, dtype=np.int64)
    offset = 0
    for l in range(2, L + 1):
        w_off[l] = offset
        offset += int(sizes[l]) * _padded(int(sizes[l - 1]))
        b_off[l] = offset
        offset += _padded(int(sizes[l]))
    params = aligned_zeros(offset, dtype)

    def layer(l: int) -> np.ndarray:
        """W^[l] in params (a view, without the padding)."""
        return params[w_off[l] : b_off[l]].reshape(sizes[l], -1)[:, : sizes[l - 1]]

    W1T[:, :d1] = network.weights[0].T
    b1[:d1] = network.biases[0]
    for l in range(2, L + 1):
        layer(l)[...] = network.weights[l - 1]
        params[b_off[l] : b_off[l] + sizes[l]] = network.biases[l - 1]

    def store() -> None:
        """Copy the engine's weights back into the Network's arrays."""
        network.weights[0][...] = W1T[:, :d1].T
        network.biases[0][...] = b1[:d1]
        for l in range(2, L + 1):
            network.weights[l - 1][...] = layer(l)
            network.biases[l - 1][...] = params[b_off[l] : b_off[l] + sizes[l]]

    indptr, cols, vals = to_sparse_rows(x)
    targets = np.ascontiguousarray(targets, dtype=dtype)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    width = _padded(int(sizes.max()))  # rows start on a cache line
    k_off = hidden_offsets(network.sizes)
    constants = np.array([0.5, 1.0, 0.0, np.finfo(dtype).tiny], dtype=dtype)
    codes = (ACTIVATION_CODES[network.activation], OUTPUT_CODES[network.output], LOSS_CODES[loss],
             RULE_CODES[rule])
    from nnctl.engine import (
        threads as parts,  # the two-thread kernel (it builds on this module's helpers)
    )

    threads = parts.threads_for(network.sizes, rule) if threads is None else threads
    if threads == 2 and (rule != "backprop" or L < 2):
        raise ValueError("two threads train backprop on networks with hidden layers only")
    kernel = (_one_thread(sizes, width, dtype) if threads == 1
              else parts.two_parts(sizes, width, dtype, schedule))

    def run_chunk(indices: np.ndarray, eta: float, inputs: np.ndarray | None = None,
                  keep: np.ndarray | None = None) -> ChunkResult:
        order = np.ascontiguousarray(indices, dtype=np.int64)
        rows = (indptr, cols, vals, targets, labels)
        if inputs is not None:  # the chunk's own inputs (distorted images), row k for order[k]
            rows = (*to_sparse_rows(np.asarray(inputs, dtype=dtype)), targets[order],
                    labels[order])
            order = np.arange(len(order), dtype=np.int64)
        total, mistakes, updates, done, last_loss = kernel(
            order, *rows, W1T, b1, params, w_off, b_off, sizes, dtype.type(eta), constants,
            *codes, None if keep is None else np.ascontiguousarray(keep, dtype), k_off)
        store()
        if done < len(order):
            raise Diverged(int(done), last_loss)
        return ChunkResult(float(total), int(mistakes), int(updates))

    return run_chunk


# A chunk's arguments for the kernels below: (order, indptr, cols, vals, targets, labels, W1T, b1,
# params, w_off, b_off, sizes, eta, c, act, out, loss, rule, keep, k_off)
Kernel = Callable[..., tuple]


def _one_thread(sizes: np.ndarray, width: int, dtype) -> Kernel:
    """sgd_chunk with its scratch buffers."""
    L = len(sizes) - 1
    z, a, f = (np.zeros((L + 1, width), dtype=dtype) for _ in range(3))  # f: f(z) before dropout
    delta, below, step1 = (np.zeros(width, dtype=dtype) for _ in range(3))

    def kernel(*chunk):
        *arguments, keep, k_off = chunk
        return sgd_chunk(*arguments, z, a, delta, below, step1, keep, k_off, f)

    return kernel


LINE = 64  # bytes in a cache line


def aligned_zeros(shape, dtype) -> np.ndarray:
    """np.zeros(shape, dtype) starting on a cache line."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    buffer = np.zeros(size + LINE // dtype.itemsize, dtype=dtype)
    start = (-buffer.ctypes.data % LINE) // dtype.itemsize
    return buffer[start : start + size].reshape(shape)


def is_compiled(cache_dir: Path | None = None) -> bool:
    """Whether numba's cache (`cache_dir`, default __pycache__ beside this file) holds sgd_chunk
    compiled from this very source; if not, the first chunk compiles it (about 10 s). Looks at
    file names and times only: the index numba writes, newer than this file."""
    source = Path(__file__)
    line = sgd_chunk.py_func.__code__.co_firstlineno  # numba's name for this version of it
    python = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    index = ((cache_dir or source.parent / "__pycache__")
             / f"{source.stem}.sgd_chunk-{line}.{python}.nbi")
    try:
        return index.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        return False

"""The fused engine: the reference engine's per-example SGD as one compiled loop (numba).

The same equations as engine/reference.py, step for step, for a whole chunk of examples per call,
with no Python and no temporary arrays per example. Only the order inside sums differs (as BLAS's
does from a plain loop), so the weights agree to rounding (tests/engine/test_fused.py).

- The inputs are stored once in compressed sparse rows (an MNIST image is ~80% zeros), their
  values the pixel bytes where the inputs are a function of the pixel (a table of 256 inputs):
  3 bytes per non-zero pixel with 2-byte columns. For
  per-example SGD a weight whose input is zero gets a zero gradient, so the first layer's forward
  product and its update touch only the non-zero pixels. This is exact: every update here is a
  gradient step with no term that moves a weight on a zero input (no weight decay, no momentum).
  A rule that added such a term would have to apply it lazily or use dense rows.
- The first layer is kept transposed (W^[1]T, one contiguous row per input pixel, padded with
  zero columns to a multiple of 16), so its forward accumulation and its update are vector
  operations over the hidden units, four pixel rows at a time.
- The other layers live in one flat buffer with offsets (kernels.PackedWeights). The engine owns
  the weights while it trains and copies them back into the Network's arrays after every chunk,
  so checkpoints see the current weights.
- The sigmoid is 1 / (1 + exp(-z)) as in activations.py (exp is several times cheaper than tanh
  here), and f' is taken from a = f(z) where that gives the same number (sigmoid, tanh), or the
  same to rounding (scaled tanh: A B - (B / A) f(z)^2): no second tanh per unit, no division.
- Every constant comes in typed like the weights, so float32 arithmetic stays float32.
- The building blocks sgd_chunk shares with the two-thread kernel are in engine/kernels.py.
  Deep nets may run in two threads instead: engine/threads.py (sgd_chunk_parts), chosen by
  `threads.threads_for`.

numba is imported by the engine modules only; `nnctl --help` and `nnctl evaluate` never load it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numba import njit

from nnctl.core.dropout import hidden_offsets
from nnctl.core.momentum_max_norm import StepOptions, Velocity, zero_velocity
from nnctl.core.network import Network
from nnctl.engine.boundary import ChunkResult, RunChunk
from nnctl.engine.kernels import (
    ACTIVATION_CODES,
    BACKPROP,
    LOSS_CODES,
    ONE,
    OUTPUT_CODES,
    PERCEPTRON_RULE,
    RULE_CODES,
    ZERO,
    Kernel,
    PackedWeights,
    argmax,
    dot,
    example_inputs,
    hidden_delta,
    hidden_output,
    output_and_loss,
    output_delta,
    pack_weights,
    padded,
    sparse_matvec,
    sparse_update,
    typed_constants,
    unpack_weights,
)
from nnctl.engine.momentum_max_norm import (
    bound_row,
    bound_units,
    catch_up_all,
    catch_up_rows,
    column_norms,
    decay_table,
    dense_momentum_update,
    fold_scales,
    sparse_momentum_update,
    sparse_update_norms,
)
from nnctl.engine.threads import Schedule, threads_for, two_parts
from nnctl.errors import Diverged


@njit(cache=True, error_model="numpy", nogil=True)  # train.py prepares the next chunk meanwhile
def sgd_chunk(order, indptr, cols, vals, table, targets, labels, W1T, b1, params, w_off, b_off,
              sizes, eta, c, act, out, loss, rule, z, a, delta, below, step1, keep, k_off, f,
              xbuf, vW1T, vb1, vparams, last, decay, scale, sq, su, mc):
    """Per-example SGD over `order`; returns (summed loss, mistakes, updates, examples done,
    last loss); updates counts the examples whose step changed the weights.

    Updates the weights in place; stops before adding an example whose loss is not finite.

    The inputs are sparse rows (`to_sparse_rows`): example n's non-zero inputs are at columns
    cols[indptr[n]:indptr[n+1]], with values vals there, or table[vals] (into the buffer xbuf)
    where the rows hold pixel bytes.

    W1T is W^[1] transposed (one row per input, padded with zero columns) and b1 its bias (padded);
    layer l >= 2 has W^[l] (out x in, its rows padded to padded(in)) at params[w_off[l]:] and
    b^[l] at params[b_off[l]:].
    z[l], a[l] are rows of scratch buffers; delta and below hold delta^[l] and delta^[l-1];
    step1 is layer 1's step (its padding stays zero). With dropout `keep` (else None, and numba
    compiles the loop without dropout's branches), the hidden layers' outputs
    are a^[l] = f(z^[l]) * keep^[l], f(z^[l]) kept in f[l] for f', keep^[l] the example's keep
    factors keep[done, k_off[l]:] (chunk position `done`); delta^[l] gets the same factors.

    Momentum and max-norm (engine/momentum_max_norm.py), each None when off (and compiled away
    like `keep`): the velocities vW1T, vb1, vparams laid out as the weights; `last` and `decay`
    for layer 1's lazy momentum (None with max-norm too: then every row moves each example);
    layer 1's scale factors `scale` (W1T = s U) and squared norms `sq`, `su` scratch; mc holds
    mu, c^2 and c.
    """
    L = sizes.shape[0] - 1
    zero = c[ZERO]  # a local: a load that the stores below cannot alias
    d1 = sizes[1]
    total_loss = 0.0
    mistakes = 0
    updates = 0
    for done in range(order.shape[0]):
        n = order[done]
        xc, xv = example_inputs(indptr, cols, vals, table, n, xbuf)  # x's non-zeros
        p1 = xc.shape[0]
        y = targets[n]
        # 1. forward. Layer 1 from the non-zero inputs only: z^[1] = W^[1] x + b^[1]
        z1, a1 = z[1], a[1]
        if last is not None:  # lazy momentum: the rows read are brought up to date first
            catch_up_rows(W1T, vW1T, last, decay, xc, 0, p1, done)
        sparse_matvec(W1T, xc, xv, 0, p1, 0, W1T.shape[1], zero, z1)
        if scale is not None:  # W^[1] x = s * (U x)
            for j in range(d1):
                z1[j] *= scale[j]
        for j in range(d1):
            z1[j] += b1[j]
        if L > 1:
            hidden_output(z1[:d1], f[1, :d1], a1[:d1], keep, done, k_off[1], act, c)
        for l in range(2, L + 1):  # z^[l] = W^[l] a^[l-1] + b^[l]
            dl, dk, rk = sizes[l], sizes[l - 1], padded(sizes[l - 1])
            zl, al, a_prev = z[l], a[l], a[l - 1]
            for j in range(dl):
                w = params[w_off[l] + j * rk : w_off[l] + j * rk + dk]
                zl[j] = dot(w, a_prev[:dk], c) + params[b_off[l] + j]
            if l < L:
                hidden_output(zl[:dl], f[l, :dl], al[:dl], keep, done, k_off[l], act, c)
        dL = sizes[L]
        example_loss = output_and_loss(z[L, :dL], a[L, :dL], y, out, loss, c)
        if not np.isfinite(example_loss):
            return total_loss, mistakes, updates, done, float(example_loss)
        total_loss += example_loss
        if argmax(a[L, :dL]) != labels[n]:
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
            output_delta(a[L, :dL], y, out, loss, delta[:dL], c)
            for l in range(L, 1, -1):
                dl, dk = sizes[l], sizes[l - 1]
                z_prev, a_prev = z[l - 1], a[l - 1]
                for i in range(dk):
                    below[i] = zero
                # W^[l]T delta^[l] and step 3's update of W^[l] -= (eta delta^[l]) a^[l-1]T in
                # one pass over W^[l] (it is read from memory once, not twice): each weight is
                # read for the product before it is updated, so delta^[l-1] uses the weights of
                # the forward pass, exactly as the reference engine's separate steps do.
                rk = padded(dk)
                if vparams is None:
                    for j in range(dl):
                        w, dj = params[w_off[l] + j * rk : w_off[l] + j * rk + dk], delta[j]
                        step = eta * dj
                        for i in range(dk):
                            wi = w[i]
                            below[i] += wi * dj
                            w[i] = wi - step * a_prev[i]
                        params[b_off[l] + j] -= step
                        if scale is not None:  # noqa: SIM102 (numba prunes `is None` alone)
                            if l < L:
                                bound_row(w, mc[1], mc[2], zero)
                else:
                    layer_momentum_step(params, vparams, w_off[l], b_off[l], dl, dk, rk, delta,
                                        below, a_prev, eta, mc[0])
                    if scale is not None:  # noqa: SIM102 (as above)
                        if l < L:
                            for j in range(dl):
                                bound_row(params[w_off[l] + j * rk : w_off[l] + j * rk + dk],
                                          mc[1], mc[2], zero)
                hidden_delta(z_prev[:dk], f[l - 1, :dk], a_prev[:dk], below[:dk], keep, done,
                             k_off[l - 1], act, c)
                for i in range(dk):
                    delta[i] = below[i]
            for j in range(d1):
                # W - (eta delta) x^T, written as W + (-(eta delta)) x^T
                step1[j] = -(eta * delta[j])
        # layer 1's update touches only the rows of the non-zero inputs
        if vW1T is None:
            if scale is None:
                sparse_update(W1T, xc, xv, 0, p1, 0, W1T.shape[1], step1)
            else:  # W = s U: U += (step / s) x^T, its columns' norms kept
                for j in range(d1):
                    su[j] = step1[j] / scale[j]
                sparse_update_norms(W1T, xc, xv, 0, p1, su, sq)
            for j in range(d1):
                b1[j] += step1[j]
        else:
            mu = mc[0]
            if last is None:  # with max-norm: every row, every example
                if scale is not None:  # (numba prunes `x is None` only where x is None)
                    for j in range(d1):
                        su[j] = c[ONE] / scale[j]
                    dense_momentum_update(W1T, vW1T, xc, xv, 0, p1, step1, su, mu, zero, sq)
            else:
                sparse_momentum_update(W1T, vW1T, xc, xv, 0, p1, step1, mu, last, done)
            for j in range(d1):
                vb1[j] = mu * vb1[j] + step1[j]
                b1[j] += vb1[j]
        if scale is not None:
            bound_units(scale, sq, d1, mc[1], mc[2])
    return total_loss, mistakes, updates, order.shape[0], 0.0


@njit(cache=True)
def layer_momentum_step(params, vparams, w0, b0, dl, dk, rk, delta, below, a_prev, eta, mu):
    """Layer l >= 2's backward pass with momentum: below = W^[l]T delta^[l] with the weights of
    the forward pass, then v <- mu v - eta delta a^T, W <- W + v (and the bias likewise)."""
    for j in range(dl):
        w = params[w0 + j * rk : w0 + j * rk + dk]
        v = vparams[w0 + j * rk : w0 + j * rk + dk]
        dj = delta[j]
        step = eta * dj
        for i in range(dk):
            wi = w[i]
            below[i] += wi * dj
            vi = mu * v[i] - step * a_prev[i]
            v[i] = vi
            w[i] = wi + vi
        vb = mu * vparams[b0 + j] - step
        vparams[b0 + j] = vb
        params[b0 + j] += vb


SPARSE_BLOCK = 1024  # rows read at a time while the sparse rows are built
MAX_UINT16_COLUMNS = 1 << 16  # inputs per row up to which columns are 2-byte numbers


def to_sparse_rows(x) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Compressed sparse rows of x: (indptr, cols, vals, table). Row n's non-zeros are at
    columns cols[indptr[n]:indptr[n+1]] (in column order, uint16 where rows are at most
    MAX_UINT16_COLUMNS long), with values vals there, or table[vals] when table is not None.

    x is an array of rows or anything whose slices x[i:j] are; where it can give its pixels
    and a table of their inputs (`x.as_pixels()`, io.examples.Inputs: bytes, not deskewed),
    the values are the pixel bytes themselves and `table` their inputs: full MNIST's rows then
    take 3 bytes per non-zero pixel, not 8, and the numbers are the same. The rows are read
    SPARSE_BLOCK at a time, twice (count, then fill), so that no dense float copy of the whole
    of x is made. Compiled: training with distortions builds them for every chunk."""
    as_pixels = getattr(x, "as_pixels", None)
    pixels = as_pixels() if as_pixels is not None else None
    source, table = pixels if pixels is not None else (x, None)
    n, width = len(source), x.shape[1]
    counts = np.empty(n, dtype=np.int64)
    for i in range(0, n, SPARSE_BLOCK):
        counts[i : i + SPARSE_BLOCK] = np.count_nonzero(
            np.asarray(source[i : i + SPARSE_BLOCK]), axis=1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    cols = np.empty(indptr[n], dtype=np.uint16 if width <= MAX_UINT16_COLUMNS else np.int32)
    vals = np.empty(indptr[n], dtype=source.dtype)
    for i in range(0, n, SPARSE_BLOCK):
        block = np.ascontiguousarray(source[i : i + SPARSE_BLOCK]).reshape(-1, width)
        _sparse_rows(block, indptr[i:], cols, vals)
    return indptr, cols, vals, table


@njit(cache=True, nogil=True)
def _sparse_rows(x, indptr, cols, vals):
    """Row i of x's non-zeros into cols and vals from indptr[i] on."""
    n, d = x.shape
    for i in range(n):
        p = indptr[i]
        for j in range(d):
            if x[i, j] != 0:
                cols[p] = j
                vals[p] = x[i, j]
                p += 1


def make(network: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray, rule: str,
         loss: str, threads: int | None = None, schedule: Schedule | None = None,
         options: StepOptions | None = None, velocity: Velocity | None = None) -> RunChunk:
    """A `run_chunk(indices, eta[, inputs, keep]) -> ChunkResult` that trains `network` in
    place on the examples `indices` (their sparse rows of x, or the chunk's own `inputs` rows:
    floats, or rows that give their pixels, as x may), with each example's hidden dropout factors
    `keep[k]`, if given.

    threads=1 runs sgd_chunk; threads=2 runs sgd_chunk_parts, in two threads or one as
    `schedule` says (default: `Pace`); None: as `threads_for` says for this network. `options`
    (backprop, one thread) add momentum, on `velocity` (updated in place), and max-norm."""
    dtype = network.dtype
    sizes = np.array(network.sizes, dtype=np.int64)
    weights = pack_weights(network)
    sparse = None  # x's sparse rows, made when a chunk first needs them (then x is let go)
    targets = np.ascontiguousarray(targets, dtype=dtype)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    width = padded(int(sizes.max()))  # rows start on a cache line
    k_off = hidden_offsets(network.sizes)
    constants = typed_constants(dtype)
    codes = (ACTIVATION_CODES[network.activation], OUTPUT_CODES[network.output], LOSS_CODES[loss],
             RULE_CODES[rule])
    threads = (threads_for(network.sizes, rule) if options is None else 1) if threads is None \
        else threads
    if threads == 2 and (rule != "backprop" or len(network.weights) < 2 or options is not None):
        raise ValueError("two threads train backprop on networks with hidden layers only, "
                         "without momentum or max-norm")
    if options is not None and rule != "backprop":
        raise ValueError("momentum and max-norm are for backprop")
    kernel = (_one_thread(sizes, width, dtype) if threads == 1
              else two_parts(sizes, width, dtype, schedule))
    steps = _Steps(options, velocity, network, weights) if options else None

    def run_chunk(indices: np.ndarray, eta: float, inputs: np.ndarray | None = None,
                  keep: np.ndarray | None = None) -> ChunkResult:
        nonlocal sparse, x
        order = np.ascontiguousarray(indices, dtype=np.int64)
        if inputs is None:
            if sparse is None:  # not before: every chunk may bring its own (data.stream)
                sparse, x = to_sparse_rows(x), None
            rows = (*sparse, targets, labels)
        else:  # the chunk's own inputs (distorted images, or its pixels), row k for order[k]
            rows = (*to_sparse_rows(inputs), targets[order], labels[order])
            order = np.arange(len(order), dtype=np.int64)
        extra = steps.start(len(order)) if steps else ()
        total, mistakes, updates, done, last_loss = kernel(
            order, *rows, *weights, sizes, dtype.type(eta), constants, *codes,
            None if keep is None else np.ascontiguousarray(keep, dtype), k_off, *extra)
        if steps:
            steps.finish(int(done))
        unpack_weights(weights, network)
        if done < len(order):
            raise Diverged(int(done), last_loss)
        return ChunkResult(float(total), int(mistakes), int(updates))

    return run_chunk


class _Steps:
    """sgd_chunk's momentum and max-norm state (engine/momentum_max_norm.py): the packed
    velocities, layer 1's `last` and `decay` (lazy momentum) or scale factors, and what is done
    around each chunk so that the arrays handed back are exact."""

    def __init__(self, options: StepOptions, velocity: Velocity | None, network: Network,
                 weights: PackedWeights):
        dtype, width = network.dtype, weights.W1T.shape[1]
        self.mu, self.weights, self.dtype = options.momentum, weights, dtype
        self.velocity = velocity
        if options.momentum > 0 and velocity is None:
            self.velocity = zero_velocity(network.weights, network.biases)
        self.as_network = (Network(self.velocity.weights, self.velocity.biases,
                                   network.activation, network.output)
                           if options.momentum > 0 else None)
        self.packed = pack_weights(self.as_network) if self.as_network else None
        lazy = options.momentum > 0 and options.max_norm == 0
        self.last = np.zeros(weights.W1T.shape[0], dtype=np.int64) if lazy else None
        self.decay = decay_table(options.momentum, 0, dtype) if lazy else None
        on = options.max_norm > 0
        self.scale = np.ones(width, dtype=dtype) if on else None
        self.sq = np.zeros(width, dtype=dtype)
        self.su = np.zeros(width, dtype=dtype)
        c = options.max_norm
        self.mc = np.array([options.momentum, c * c, c], dtype=dtype)

    def start(self, n: int) -> tuple:
        """sgd_chunk's last arguments for a chunk of n examples (its squared norms taken)."""
        if self.decay is not None and self.decay.shape[1] <= n:
            self.decay = decay_table(self.mu, n, self.dtype)
        if self.scale is not None:
            column_norms(self.weights.W1T, self.dtype.type(0), self.sq)
        v = self.packed or (None, None, None)
        return (v[0], v[1], v[2], self.last, self.decay, self.scale, self.sq, self.su, self.mc)

    def finish(self, done: int) -> None:
        """Every row of W^[1] up to date, the scale factors folded in, the velocities copied
        back into `velocity`'s arrays."""
        if self.last is not None:
            catch_up_all(self.weights.W1T, self.packed.W1T, self.last, self.decay, done)
        if self.scale is not None:
            fold_scales(self.weights.W1T, self.scale, self.dtype.type(1))
        if self.packed is not None:
            unpack_weights(self.packed, self.as_network)


def _one_thread(sizes: np.ndarray, width: int, dtype) -> Kernel:
    """sgd_chunk with its scratch buffers (and None for momentum and max-norm unless given)."""
    L = len(sizes) - 1
    z, a, f = (np.zeros((L + 1, width), dtype=dtype) for _ in range(3))  # f: f(z) before dropout
    delta, below, step1 = (np.zeros(width, dtype=dtype) for _ in range(3))
    xbuf = np.zeros(width, dtype=dtype)  # an example's inputs (width >= inputs)
    off = (None,) * 9

    def kernel(*chunk):
        *arguments, keep, k_off = chunk[:21]
        return sgd_chunk(*arguments, z, a, delta, below, step1, keep, k_off, f, xbuf,
                         *(chunk[21:] or off))

    return kernel


def is_compiled(cache_dir: Path | None = None) -> bool:
    """Whether numba's cache (`cache_dir`, default __pycache__ beside this file) holds sgd_chunk
    compiled from this very source; if not, the first chunk compiles it (about 10 s). Looks at
    file names and times only: the index numba writes, newer than this file (numba looks at
    this file only, not at kernels.py: see there)."""
    code = sgd_chunk.py_func.__code__
    source, line = Path(code.co_filename), code.co_firstlineno  # line: numba's name for this one
    python = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    index = ((cache_dir or source.parent / "__pycache__")
             / f"{source.stem}.sgd_chunk-{line}.{python}.nbi")
    try:
        return index.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        return False

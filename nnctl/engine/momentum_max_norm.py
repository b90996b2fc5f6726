"""Momentum and max-norm compiled for fused.sgd_chunk's first layer, kept sparse
(core/momentum_max_norm.py's twin; the reference engine is the oracle).

W^[1]T's rows are the input pixels. An example moves only the rows of its non-zero pixels; with
momentum every other row still moves by its velocity (its gradient is 0: v <- mu v, W <- W + v),
and max-norm looks at every unit's whole column. Both are kept off the other rows:

- momentum, lazily: `last[i]` is the example (position in the chunk) up to which row i is up to
  date. Before an example reads row i, `catch_up_rows` applies the k = t - last[i] steps it
  missed at once, W_i += (mu + mu^2 + ... + mu^k) v_i and v_i *= mu^k (`decay` holds both sums
  for every k of a chunk); then the step itself. `catch_up_all` brings every row up to date at
  the end of the chunk, so the weights and velocities handed back are those of the equations.
- max-norm, by a scale factor per unit: W^[1]T[:, j] = s_j U[:, j], U stored, with each unit's
  squared norm |U_j|^2 in `sq`, kept up to date as rows change (`sparse_update_norms`): a rescale
  is s_j <- s_j c / |W_j|, O(1). `fold_scales` multiplies the factors back in at the chunk's end.
- both: lazy momentum's untouched rows drift between catch-ups, which changes every unit's norm
  after every example, so the norm check needs all rows each time: `dense_momentum_update`
  updates every row per example (exact, and several times slower; docs/engines.md).

numba's cache knows only the file of the function it compiled (see kernels.py): after changing
this file, touch fused.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def decay_table(mu: float, n: int, dtype) -> np.ndarray:
    """decay[0, k] = mu + mu^2 + ... + mu^k and decay[1, k] = mu^k for k = 0..n (computed in
    float64, then rounded to the weights' type)."""
    powers = mu ** np.arange(n + 1, dtype=np.float64)
    sums = np.concatenate(([0.0], np.cumsum(powers[1:])))
    return np.stack([sums, powers]).astype(dtype)


@njit(cache=True)
def catch_up_rows(W, V, last, decay, cols, p0, p1, t):
    """Rows cols[p0:p1] of W and V brought up to example t (k = t - last[i] zero-gradient steps
    of momentum at once)."""
    for p in range(p0, p1):
        i = cols[p]
        k = t - last[i]
        if k > 0:
            _catch_up_row(W[i], V[i], decay[0, k], decay[1, k])
            last[i] = t


@njit(cache=True)
def catch_up_all(W, V, last, decay, t):
    """Every row brought up to example t (the chunk's end); `last` starts again at 0."""
    for i in range(W.shape[0]):
        k = t - last[i]
        if k > 0:
            _catch_up_row(W[i], V[i], decay[0, k], decay[1, k])
        last[i] = 0


@njit(cache=True, inline="always")
def _catch_up_row(w, v, g, m):
    """k zero-gradient momentum steps of one row at once: w += (mu + ... + mu^k) v = g v,
    v *= mu^k = m."""
    for j in range(w.shape[0]):
        w[j] += g * v[j]
        v[j] *= m


@njit(cache=True)
def sparse_momentum_update(W, V, cols, vals, p0, p1, step, mu, last, t):
    """Example t's step on the rows of its non-zero inputs (already up to date):
    v_i <- mu v_i + step x_i (step = -eta delta^[1]), W_i <- W_i + v_i."""
    for p in range(p0, p1):
        i, x = cols[p], vals[p]
        w, v = W[i], V[i]
        for j in range(w.shape[0]):
            vj = mu * v[j] + step[j] * x
            v[j] = vj
            w[j] += vj
        last[i] = t + 1


@njit(cache=True)
def sparse_update_norms(U, cols, vals, p0, p1, step, sq):
    """U += step x^T on the rows of the non-zero inputs (step = -eta delta^[1] / s), and the
    columns' squared norms sq kept up to date."""
    for p in range(p0, p1):
        u, x = U[cols[p]], vals[p]
        for j in range(u.shape[0]):
            old = u[j]
            new = old + step[j] * x
            u[j] = new
            sq[j] += new * new - old * old


@njit(cache=True)
def dense_momentum_update(U, V, cols, vals, p0, p1, step, inv_s, mu, zero, sq):
    """Momentum on every row (both options on): v_i <- mu v_i + step x_i (x_i = 0 but on the
    non-zero inputs, whose columns cols are in order), W_i += v_i written U_i += v_i / s, and sq
    the columns' squared norms of U again."""
    width = U.shape[1]
    for j in range(width):
        sq[j] = zero
    p = p0
    for i in range(U.shape[0]):
        u, v = U[i], V[i]
        if p < p1 and cols[p] == i:
            x = vals[p]
            p += 1
            for j in range(width):
                vj = mu * v[j] + step[j] * x
                v[j] = vj
                uj = u[j] + vj * inv_s[j]
                u[j] = uj
                sq[j] += uj * uj
        else:
            for j in range(width):
                vj = mu * v[j]
                v[j] = vj
                uj = u[j] + vj * inv_s[j]
                u[j] = uj
                sq[j] += uj * uj


@njit(cache=True)
def column_norms(U, zero, sq):
    """sq[j] = sum_i U[i, j]^2 (a chunk's start)."""
    for j in range(U.shape[1]):
        sq[j] = zero
    for i in range(U.shape[0]):
        u = U[i]
        for j in range(U.shape[1]):
            sq[j] += u[j] * u[j]


@njit(cache=True)
def bound_units(scale, sq, d, c2, c):
    """Max-norm on layer 1's units: s_j <- s_j c / |W_j| where |W_j|^2 = s_j^2 sq_j > c^2."""
    for j in range(d):
        n2 = scale[j] * scale[j] * sq[j]
        if n2 > c2:
            scale[j] *= c / np.sqrt(n2)


@njit(cache=True)
def bound_row(w, c2, c, zero):
    """Max-norm on one hidden unit of layer l >= 2 (its row of W^[l]), densely."""
    n2 = zero
    for i in range(w.shape[0]):
        n2 += w[i] * w[i]
    if n2 > c2:
        r = c / np.sqrt(n2)
        for i in range(w.shape[0]):
            w[i] *= r


@njit(cache=True)
def fold_scales(U, scale, one):
    """W^[1]T = U * s column by column, and s = 1 again (a chunk's end)."""
    for i in range(U.shape[0]):
        u = U[i]
        for j in range(U.shape[1]):
            u[j] *= scale[j]
    for j in range(scale.shape[0]):
        scale[j] = one

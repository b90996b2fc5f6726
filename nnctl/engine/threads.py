"""The fused engine in two threads, for deep nets (`threads_for`: backprop on networks whose
hidden layers are large enough, two usable cores).

sgd_chunk_parts cuts each example's work in two parts, part p owning a fixed half of the units of
every hidden layer (its columns of W^[1]T, its rows of W^[l], its columns of W^[L]); the parts
meet at a barrier (engine/barrier.py) where one needs the other's half, 2L-3 times per example,
and add each other's shares of a sum in a fixed order. So the numbers do not depend on the
threads' timing, and they are the same when one thread runs both parts, which `Pace` does, piece
by piece of each chunk, whenever that is faster (a busy machine). They differ from fused.py's
sgd_chunk only in the order of sums, like the reference engine's.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from itertools import pairwise

import numba
import numpy as np
from numba import njit

from nnctl.engine.barrier import SLOT, wait_for_partner
from nnctl.engine.kernels import (
    PAD,
    ZERO,
    Kernel,
    aligned_zeros,
    argmax,
    dot,
    example_inputs,
    hidden_delta,
    hidden_output,
    output_and_loss,
    output_delta,
    padded,
    sparse_matvec,
    sparse_update,
)


@njit(cache=True)
def _add(x, y):
    """y += x elementwise (a loop over slices from 0 vectorizes: see sparse_matvec)."""
    for i in range(x.shape[0]):
        y[i] += x[i]


@njit(cache=True)
def _sum_of(x, y, s):
    """s = x + y elementwise."""
    for i in range(x.shape[0]):
        s[i] = x[i] + y[i]


@njit(cache=True)
def _next_barrier(flags, first, last, count):
    """Barrier number count + 1 when the two parts run in two threads (part `first` in this one);
    nothing to wait for when this thread runs both."""
    if last - first == 1:
        wait_for_partner(flags, first, count + 1)
    return count + 1


@njit(cache=True, nogil=True, error_model="numpy")
def sgd_chunk_parts(first, last, lo, hi, flags, order, indptr, cols, vals, table, targets, labels,
                    W1T, b1, params, w_off, b_off, sizes, eta, c, act, out, loss, z, a, f, delta,
                    step1, shares, sums, zLs, aLs, deltaLs, keep, k_off, xbufs):
    """Backprop's per-example SGD over `order` on a network with hidden layers, the work of each
    example cut in two parts, part p computing and updating units lo[p, l]:hi[p, l] of every
    hidden layer l. This call runs parts first..last-1: part 0 or part 1 (with the other part
    running at the same time in another thread, met at barriers), or both, one after the other.
    Returns as sgd_chunk.

    Each weight is read and written by one part only, and every sum is taken in a fixed order
    (part 0's share, then part 1's), so the numbers are the same whether the parts run in one
    thread or two, and whatever the threads' timing. Per example:
    - layer 1: the part's columns of W^[1]T give its units of z^[1] and a^[1];
    - hidden layer l >= 2, after a barrier (a^[l-1] complete): its rows of W^[l];
    - output layer L: its columns of W^[L] (its units of layer L-1) give its share of
      W^[L] a^[L-1] (part 0's with b^[L]); after a barrier each thread adds the shares and
      computes a^[L], the loss and delta^[L] (in its row of zLs, aLs, deltaLs; alike in both);
    - backward, W^[L]: the same columns give W^[L]T delta^[L] on the part's units, complete;
    - W^[l] for L > l >= 2: its rows give a share of W^[l]T delta^[l] over all units of layer
      l-1 (shares[l, p]); after a barrier each part adds the two shares on its units of l-1;
    - layer 1's update: its columns of W^[1]T again.
    z, a, f, delta, step1 are shared, each part writing its units only; each thread reads the
    example's inputs into its own row of xbufs (fused.sgd_chunk's xbuf). The shares of z^[L]
    alternate between two rows of sums by example: with one hidden layer there is one barrier per
    example, and a thread may write example done+1's share while the other still reads done's.
    """
    L = sizes.shape[0] - 1
    zero = c[ZERO]
    dL, rk_L = sizes[L], padded(sizes[L - 1])
    zL, aL, deltaL = zLs[first, :dL], aLs[first, :dL], deltaLs[first, :dL]
    barriers = 0  # passed so far in this chunk
    total_loss = 0.0
    mistakes = 0
    for done in range(order.shape[0]):
        n = order[done]
        xc, xv = example_inputs(indptr, cols, vals, table, n, xbufs[first])  # x's non-zeros
        p1 = xc.shape[0]
        y = targets[n]
        # 1. forward. Layer 1 from the non-zero inputs only: z^[1] = W^[1] x + b^[1]
        for p in range(first, last):
            j0, j1 = lo[p, 1], hi[p, 1]
            j1_padded = W1T.shape[1] if p == 1 else j1  # part 1 runs over the zero padding
            sparse_matvec(W1T, xc, xv, 0, p1, j0, j1_padded, zero, z[1])
            _add(b1[j0:j1], z[1, j0:j1])
            hidden_output(z[1, j0:j1], f[1, j0:j1], a[1, j0:j1], keep, done, k_off[1] + j0,
                          act, c)
        for l in range(2, L):  # z^[l] = W^[l] a^[l-1] + b^[l], the part's rows
            barriers = _next_barrier(flags, first, last, barriers)  # a^[l-1] complete
            dk, rk, a_prev = sizes[l - 1], padded(sizes[l - 1]), a[l - 1, : sizes[l - 1]]
            for p in range(first, last):
                j0, j1 = lo[p, l], hi[p, l]
                for j in range(j0, j1):
                    w = params[w_off[l] + j * rk : w_off[l] + j * rk + dk]
                    z[l, j] = dot(w, a_prev, c) + params[b_off[l] + j]
                hidden_output(z[l, j0:j1], f[l, j0:j1], a[l, j0:j1], keep, done, k_off[l] + j0,
                              act, c)
        # z^[L] = W^[L] a^[L-1] + b^[L]: each part's share, from its columns of W^[L]
        for p in range(first, last):
            i0, i1, share = lo[p, L - 1], hi[p, L - 1], sums[done % 2, p]
            for j in range(dL):
                w = params[w_off[L] + j * rk_L + i0 : w_off[L] + j * rk_L + i1]
                share[j] = dot(w, a[L - 1, i0:i1], c)
                if p == 0:
                    share[j] += params[b_off[L] + j]
        barriers = _next_barrier(flags, first, last, barriers)  # both shares of z^[L]
        for j in range(dL):
            zL[j] = sums[done % 2, 0, j] + sums[done % 2, 1, j]
        example_loss = output_and_loss(zL, aL, y, out, loss, c)
        if not np.isfinite(example_loss):  # every thread stops here, before any update
            return total_loss, mistakes, done, done, float(example_loss)
        total_loss += example_loss
        if argmax(aL) != labels[n]:
            mistakes += 1

        # 2. backward: delta^[L], then delta^[l-1] = f'(z^[l-1]) * W^[l]T delta^[l], with
        # W^[l]T delta^[l] and step 3's update of W^[l] in one pass, as in sgd_chunk
        output_delta(aL, y, out, loss, deltaL, c)
        for p in range(first, last):  # W^[L]: the part's columns
            i0, i1 = lo[p, L - 1], hi[p, L - 1]
            a_own, below = a[L - 1, i0:i1], delta[L - 1, i0:i1]
            for i in range(i1 - i0):
                below[i] = zero
            for j in range(dL):
                w, dj = params[w_off[L] + j * rk_L + i0 : w_off[L] + j * rk_L + i1], deltaL[j]
                step = eta * dj
                for i in range(i1 - i0):
                    wi = w[i]
                    below[i] += wi * dj
                    w[i] = wi - step * a_own[i]
                if p == 0:
                    params[b_off[L] + j] -= step
            hidden_delta(z[L - 1, i0:i1], f[L - 1, i0:i1], a_own, below, keep, done,
                         k_off[L - 1] + i0, act, c)
        for l in range(L - 1, 1, -1):  # W^[l]: the part's rows
            dk, rk, a_prev = sizes[l - 1], padded(sizes[l - 1]), a[l - 1, : sizes[l - 1]]
            for p in range(first, last):
                share = shares[l, p]
                for i in range(dk):
                    share[i] = zero
                for j in range(lo[p, l], hi[p, l]):
                    w, dj = params[w_off[l] + j * rk : w_off[l] + j * rk + dk], delta[l, j]
                    step = eta * dj
                    for i in range(dk):
                        wi = w[i]
                        share[i] += wi * dj
                        w[i] = wi - step * a_prev[i]
                    params[b_off[l] + j] -= step
            barriers = _next_barrier(flags, first, last, barriers)  # both shares of W^[l]T delta
            for p in range(first, last):
                k0, k1 = lo[p, l - 1], hi[p, l - 1]
                _sum_of(shares[l, 0, k0:k1], shares[l, 1, k0:k1], delta[l - 1, k0:k1])
                hidden_delta(z[l - 1, k0:k1], f[l - 1, k0:k1], a[l - 1, k0:k1],
                             delta[l - 1, k0:k1], keep, done, k_off[l - 1] + k0, act, c)
        # 3. layer 1's update, the part's columns, on the rows of the non-zero inputs only
        for p in range(first, last):
            j0, j1 = lo[p, 1], hi[p, 1]
            step, delta1 = step1[j0:j1], delta[1, j0:j1]
            for j in range(j1 - j0):
                step[j] = -(eta * delta1[j])
            sparse_update(W1T, xc, xv, 0, p1, j0, W1T.shape[1] if p == 1 else j1, step1)
            _add(step, b1[j0:j1])
    return total_loss, mistakes, order.shape[0], order.shape[0], 0.0


def two_parts(sizes: np.ndarray, width: int, dtype, schedule: Schedule | None) -> Kernel:
    """sgd_chunk_parts with each part's units of every hidden layer (`split`) and the buffers:
    each chunk in two threads (part 0 in this one, part 1 in a helper) or in this thread alone,
    as `schedule` says (default: `Pace`, the faster way)."""
    L = len(sizes) - 1
    lo, hi = np.zeros((2, L + 1), dtype=np.int64), np.zeros((2, L + 1), dtype=np.int64)
    for l in range(1, L):
        hi[0, l] = lo[1, l] = split(int(sizes[l]))
        hi[1, l] = sizes[l]
    # Every array the two threads write starts on a cache line, and so does each part's piece of
    # it (rows of a multiple of PAD, splits on multiples of PAD): a line written by both threads
    # would travel between the cores at every write.
    flags = aligned_zeros(2 * SLOT, np.int64)
    z, a, f, delta = (aligned_zeros((L + 1, width), dtype) for _ in range(4))
    step1 = aligned_zeros(width, dtype)
    shares = aligned_zeros((L + 1, 2, width), dtype)
    row = padded(int(sizes[L]))
    sums = aligned_zeros((2, 2, row), dtype)
    zLs, aLs, deltaLs = (aligned_zeros((2, row), dtype) for _ in range(3))
    xbufs = aligned_zeros((2, width), dtype)
    schedule = schedule or Pace()

    def run(threads, order, rows, keep, k_off):
        """sgd_chunk_parts over `order` in `threads` threads; (its result, the threads used)."""
        def parts(first, last):
            return sgd_chunk_parts(first, last, lo, hi, flags, order, *rows, z, a, f, delta,
                                   step1, shares, sums, zLs, aLs, deltaLs, keep, k_off, xbufs)

        helper = None
        if threads == 2:
            flags[:] = 0  # the barriers count from 0 in each call
            helper = threading.Thread(target=parts, args=(1, 2), name="nnctl-part-1", daemon=True)
            try:
                helper.start()
            except RuntimeError:  # no thread to be had: both parts here, the same numbers
                helper, threads = None, 1
        if helper is None:
            return parts(0, 2), 1
        try:
            return parts(0, 1), 2
        finally:
            helper.join()  # part 1 is done with the weights before anyone reads them

    def kernel(order, *chunk):
        *rows, _rule, keep, k_off = chunk  # backprop: the only rule here
        # The chunk's first PROBE examples, then the rest, each in the threads schedule.plan()
        # says: the way not taken is timed on the first piece now and then, at little cost. The
        # pieces are the same whatever the threads, so are the sums of the losses.
        total, mistakes, updates, done = 0.0, 0, 0, 0
        for piece, threads in zip((slice(0, PROBE), slice(PROBE, None)), schedule.plan()):
            if len(order[piece]) == 0:
                break
            start = time.perf_counter()
            result, threads = run(threads, order[piece], rows,
                                  None if keep is None else keep[piece], k_off)
            schedule.timed(threads, (time.perf_counter() - start) / len(order[piece]))
            total, mistakes, updates = total + result[0], mistakes + result[1], updates + result[2]
            done += result[3]
            if result[3] < len(order[piece]):  # diverged
                return total, mistakes, updates, done, result[4]
        return total, mistakes, updates, done, 0.0

    return kernel


PROBE = 256  # examples at the start of a chunk on which the two-part kernel may try the other way


class Pace:
    """How many threads run the two parts of each piece of the next chunk (`plan`): the faster
    way, judged by the best of the last RECENT pieces timed each way (a burst of load on one
    piece does not flip the choice); both ways are timed on the first chunks (the very first
    piece is not counted: the compiled code is loaded from numba's cache then). The slower way
    is tried again on a chunk's first PROBE examples after RETRY chunks, then after twice as
    many each time it is still the slower (up to MAX_RETRY), as the machine's load changes: on
    a busy machine two threads that must meet several times per example can be much slower
    than one. The choice changes the time only, never a number."""

    RETRY, MAX_RETRY, RECENT = 8, 128, 4

    def __init__(self) -> None:
        self.seconds = {1: deque(maxlen=self.RECENT), 2: deque(maxlen=self.RECENT)}
        self.chunks, self.faster, self.retry, self.next_retry = 0, 2, self.RETRY, self.RETRY
        self.pieces = 0

    def plan(self) -> tuple[int, int]:
        """Threads for the chunk's first PROBE examples, and for the rest."""
        self.chunks += 1
        probe = self.faster
        if not (self.seconds[1] and self.seconds[2]):
            probe = 1 if self.seconds[2] else 2
        elif self.chunks >= self.next_retry:
            self.retry = min(2 * self.retry, self.MAX_RETRY)
            self.next_retry = self.chunks + self.retry
            probe = 3 - self.faster
        return probe, self.faster

    def timed(self, threads: int, seconds_per_example: float) -> None:
        """How long a piece took per example in `threads` threads."""
        self.pieces += 1
        if self.pieces == 1:  # loaded the compiled code: not a fair time
            return
        self.seconds[threads].append(seconds_per_example)
        if self.seconds[1] and self.seconds[2]:
            faster = 2 if min(self.seconds[2]) <= min(self.seconds[1]) else 1
            if faster != self.faster:  # the load changed: look again soon
                self.faster, self.retry = faster, self.RETRY
                self.next_retry = self.chunks + self.retry


# schedule.plan() -> (threads for the chunk's first PROBE examples, for the rest);
# schedule.timed(threads, s): how long a piece took per example (Pace, or fixed in the tests)
Schedule = Pace


def split(d: int) -> int:
    """Where part 1's units of a hidden layer of d units start: the multiple of PAD nearest the
    middle (each part's units on cache lines of their own), or the middle of a small layer."""
    return round(d / (2 * PAD)) * PAD if d >= 2 * PAD else d // 2


def threads_for(sizes: list[int], rule: str) -> int:
    """2 (sgd_chunk_parts) for backprop on a network with hidden layers whose weights touched per
    example (about NONZERO_INPUTS rows of W^[1]T, all of the other layers) reach
    MIN_WEIGHTS_PER_EXAMPLE, where the work between two barriers outweighs them; else 1, as
    when only one core may be used (`usable_cores`)."""
    if rule != "backprop" or len(sizes) < 3 or usable_cores() < 2:
        return 1
    weights = NONZERO_INPUTS * sizes[1] + sum(a * b for a, b in pairwise(sizes[1:]))
    return 2 if weights >= MIN_WEIGHTS_PER_EXAMPLE else 1


NONZERO_INPUTS = 150  # an MNIST digit's non-zero pixels, about
# Measured with a free second core (benchmarks/deep_threads.py, docs/deep-net-speed.md): two
# threads win 1.5-1.7x on 784-500-500-10 (325k) and 784-1000-500-10 (655k), break even on
# 784-500-150-10 (150k), lose on 784-800-10 (120k)
MIN_WEIGHTS_PER_EXAMPLE = 300_000


def usable_cores() -> int:
    """The cores this process may run on, at most NUMBA_NUM_THREADS (a user's way to say 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        cores = os.cpu_count() or 1
    return min(cores, numba.config.NUMBA_NUM_THREADS)

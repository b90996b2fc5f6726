"""Where the fused engine's time goes (`--profile`): layer 1's sparse passes timed alone.

Layer 1's forward product and update over the non-zero pixels are timed on their own, with the
engine's own compiled loops, on the same examples as the speed table; the rest of the epoch is
the dense layers, the activations, the softmax, the loss and the bookkeeping.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from benchmarks.workload import BASELINE, DTYPE, SEED, parse_network
from nnctl.engine import fused, kernels

REPEATS = 3


def layer1_kernel() -> Callable[..., float]:
    """A compiled loop of layer 1's forward product and update over `order`'s examples.

    It calls the fused engine's compiled `kernels.example_inputs`, `kernels.sparse_matvec` and
    `kernels.sparse_update`:
    the point is to time the engine's very loops, and no public function runs one layer alone.
    This is the only place the benchmark reaches into the engine; if the kernels are renamed or
    change their arguments, only this function (and only --profile) breaks.
    """
    from numba import njit

    inputs, matvec, update = kernels.example_inputs, kernels.sparse_matvec, kernels.sparse_update

    @njit
    def layer1_only(order, indptr, cols, vals, table, W, z, step):
        zero = z[0] - z[0]
        buffer = np.zeros(W.shape[0], dtype=W.dtype)
        for n in order:
            xc, xv = inputs(indptr, cols, vals, table, n, buffer)
            matvec(W, xc, xv, 0, xc.shape[0], 0, W.shape[1], zero, z)
            update(W, xc, xv, 0, xc.shape[0], 0, W.shape[1], step)
        return z[0]

    return layer1_only


def time_layer1(kernel: Callable[..., float], hidden: int, order: np.ndarray,
                sparse: tuple, inputs: int) -> float:
    """Median seconds of `kernel` over `order` with weights of a realistic size (W^[1]T padded)."""
    width = -(-hidden // kernels.PAD) * kernels.PAD
    rng = np.random.default_rng(SEED)
    W = rng.normal(0.0, 0.05, (inputs, width)).astype(DTYPE)
    z, step = np.zeros(width, dtype=DTYPE), rng.normal(0.0, 1e-4, width).astype(DTYPE)
    kernel(order[:10], *sparse, W, z, step)  # compiles
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        kernel(order, *sparse, W, z, step)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def phases_section(networks: list[str], x: np.ndarray, rows: list[dict]) -> list[str]:
    """Layer 1's share of the fused engine's epoch, for each network the speed table timed."""
    sparse = fused.to_sparse_rows(x)
    order = np.random.default_rng(SEED).permutation(len(x))
    kernel = layer1_kernel()
    what = ("Layer 1's sparse passes timed alone (the engine's own `sparse_matvec` + "
            f"`sparse_update` over the same {len(x):,} examples, "
            f"{statistics.mean(np.diff(sparse[0])):.0f} non-zero pixels each on average), "
            "against the full epoch above; the rest is the dense layers, the activations, the "
            "softmax, the loss and the bookkeeping.")
    lines = ["## Where the fused engine's time goes", "", what, "",
             ("| network | full epoch (median) | layer 1 forward + update | share | "
              "everything else |"),
             "|---|---:|---:|---:|---:|"]
    for name in networks:
        full = next((r["median"] for r in rows
                     if r["network"] == name and r["tool"] == BASELINE), None)
        if full is None:
            continue
        part = time_layer1(kernel, parse_network(name)[1], order, sparse, x.shape[1])
        lines.append(f"| {name} | {full:.2f} s | {part:.2f} s | {part / full:.0%} | "
                     f"{full - part:.2f} s |")
    return lines

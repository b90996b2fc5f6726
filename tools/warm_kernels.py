"""Compile the fused engine's kernels into numba's cache (nnctl/engine/__pycache__), once.

numba compiles each kernel for each signature it is called with, the first time, in whichever
process calls it first, and keeps the result in its cache. On a fresh clone the test suite's
processes would each compile the same kernels at the same time (about 20 s of CPU each time);
`make test` runs this first, beside the linters and the documentation build, which leave the
second core idle. Every signature the engines use: float32 and float64, without and with dropout
factors, in one thread and in two parts, with momentum, max-norm and both (one thread), on sparse
rows of pixel bytes (and the plain ones on rows of floats too), and the compiled distortions. The
two dtypes can be compiled in two processes at once:

    python tools/warm_kernels.py [float32] [float64]
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nnctl
from nnctl.core.dropout import keep_factors
from nnctl.core.momentum_max_norm import StepOptions
from nnctl.core.network import init_network
from nnctl.core.rules import one_hot
from nnctl.engine import fused
from nnctl.io.examples import make_dataset

DISTORTED = {"model": {"hidden": [8]}, "training": {"epochs": 1},
             "data": {"limit": 200, "validation": 100,
                      "augment": {"affine": {"rotation": 5}, "elastic": {"sigma": 4,
                                                                          "alpha": 30}}}}


DTYPES = ("float32", "float64")


def engine_signatures(dtype: str) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, 64)
    dataset = make_dataset(images, labels, dtype, "warm-up")
    targets = one_hot(labels, 10, dtype)
    # the plain kernels on one thread and on two, then each momentum / max-norm variant
    variants = [(1, None), (2, None)] + [(None, options) for options in (
        StepOptions(0.5, 0.0), StepOptions(0.0, 1.0), StepOptions(0.5, 1.0))]
    # each on the sparse rows of pixel bytes (a dataset's inputs), and the plain ones also on
    # rows of floats (a chunk's own inputs: distortions, input dropout; arrays given whole)
    floats = np.asarray(dataset.x)
    for (threads, options), dropout in itertools.product(variants, (False, True)):
        for x in (dataset.x, floats) if options is None else (dataset.x,):
            network = init_network([784, 6, 4, 10], "sigmoid", "softmax", "lecun", 1.0,
                                   np.random.default_rng(0), dtype)
            run_chunk = fused.make(network, x, targets, labels, "backprop",
                                   "cross_entropy", threads=threads, options=options)
            keep = keep_factors(0.5, (8, 10), np.random.default_rng(1), dtype)
            run_chunk(np.arange(8), 0.01, None, keep if dropout else None)


def distortion_signatures(dtype: str) -> None:
    with tempfile.TemporaryDirectory(prefix="nnctl-warm-") as tmp:
        config = {**DISTORTED, "training": {**DISTORTED["training"], "dtype": dtype}}
        nnctl.train(config, out=Path(tmp) / dtype)


def main(argv: list[str]) -> int:
    dtypes = argv or list(DTYPES)
    if not set(dtypes) <= set(DTYPES):
        print(f"usage: warm_kernels.py [{'] ['.join(DTYPES)}]", file=sys.stderr)
        return 2
    start = time.perf_counter()
    for dtype in dtypes:
        engine_signatures(dtype)
        distortion_signatures(dtype)
    print(f"warm_kernels: {', '.join(dtypes)} kernels in numba's cache "
          f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

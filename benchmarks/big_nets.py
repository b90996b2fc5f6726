"""Seconds per epoch of Cireșan et al.'s (2010) four deep nets with the fused engine, one thread.

784-1000-500-10 up to 784-2500-2000-1500-1000-500-10: tanh, weights uniform in [-0.05, 0.05],
softmax + cross-entropy, float32, per-example SGD on the first --examples MNIST training digits,
CPU seconds of the timed chunk (time.process_time: one thread, so CPU time is its time), median
of 3, scaled to a 55,000-example epoch. Distortions are not included. How long their training
would take here is this figure times their epochs (docs/classic-notes.md).

    .venv/bin/python benchmarks/big_nets.py               # a few minutes
    .venv/bin/python benchmarks/big_nets.py --examples 300
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nnctl.core.network import init_network
from nnctl.core.rules import one_hot
from nnctl.engine import fused
from nnctl.io.config import DataConfig
from nnctl.io.examples import data_paths
from nnctl.io.idx import read_examples

NETS = ([1000, 500], [1500, 1000, 500], [2000, 1500, 1000, 500], [2500, 2000, 1500, 1000, 500])
EPOCH = 55_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per timed run")
    n = parser.parse_args().examples
    paths = data_paths(DataConfig())
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    x = images[:n].reshape(n, -1).astype(np.float32) / np.float32(255)
    y = one_hot(labels[:n], 10, "float32")
    print("| network | CPU s per 55,000-example epoch, one thread |\n|---|---:|")
    for hidden in NETS:
        network = init_network([784, *hidden, 10], "tanh", "softmax", "uniform", 0.05,
                               np.random.default_rng(0))
        run_chunk = fused.make(network, x, y, labels[:n], "backprop", "cross_entropy",
                               threads=1)
        run_chunk(np.arange(min(n, 100)), 0.001)  # loads (or compiles) the kernel
        times = []
        for _ in range(3):
            start = time.process_time()
            run_chunk(np.arange(n), 0.001)
            times.append(time.process_time() - start)
        print(f"| 784-{'-'.join(map(str, hidden))}-10 | "
              f"{statistics.median(times) / n * EPOCH:.1f} |", flush=True)


if __name__ == "__main__":
    main()

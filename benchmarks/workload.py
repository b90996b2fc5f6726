"""The benchmark's workload, the same for every tool, and the runner of nnctl's own engines.

Per-example SGD (batch size 1, no momentum, no weight decay, learning rate 0.1), sigmoid hidden
units, softmax + cross-entropy, float32, on the bundled MNIST training set (pixel/255).
Every tool's runner has `name`, `warmup(indices)`, `run(indices) -> seconds` and
`train_accuracy()`: nnctl's engines here (NnctlRunner), the peers in peers.py.
"""

from __future__ import annotations

import argparse
import time
from typing import Protocol

import numpy as np

from nnctl.core.network import Network, init_network
from nnctl.engine import CHUNK_SIZES, make_engine
from nnctl.io.config import DataConfig
from nnctl.io.examples import data_paths, make_dataset
from nnctl.io.idx import read_examples

LEARNING_RATE = 0.1
DTYPE = "float32"
ACTIVATION, OUTPUT, LOSS, RULE = "sigmoid", "softmax", "cross_entropy", "backprop"
INIT = "lecun"  # LeCun normal, drawn with SEED: the nnctl engines and PyTorch start from it
WARMUP_EXAMPLES = 200  # run once before timing: numba compiles here, torch sets up autograd
BASELINE = "fused"  # always timed on full epochs; the ratio column compares every tool with it
SEED = 0  # the initial weights, the shuffled order of the examples, scikit-learn's random_state


class Runner(Protocol):
    """One tool training one network: what the speed table times."""

    name: str

    def warmup(self, indices: np.ndarray) -> None: ...

    def run(self, indices: np.ndarray) -> float: ...

    def train_accuracy(self) -> float: ...


def load_mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST training file, all of it (validation 0): x = pixel/255 float32, labels."""
    paths = data_paths(DataConfig(validation=0))
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    dataset = make_dataset(images, labels, DTYPE, "train")
    return dataset.x[:], dataset.labels  # the float array: the peers train on it


def parse_network(text: str) -> list[int]:
    """'784-300-10' -> [784, 300, 10]."""
    try:
        sizes = [int(part) for part in text.split("-")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a network is layer sizes joined by '-', e.g. 784-300-10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: need at least an input and an output size, all > 0")
    return sizes


def initial_network(sizes: list[int]) -> Network:
    """The initial weights every tool but scikit-learn starts from."""
    rng = np.random.default_rng(SEED)
    return init_network(sizes, ACTIVATION, OUTPUT, INIT, 1.0, rng, DTYPE)


class NnctlRunner:
    """An nnctl engine called as train.py calls it: run_chunk over chunks of CHUNK_SIZES[engine]."""

    def __init__(self, engine: str, network: Network, x: np.ndarray, targets: np.ndarray,
                 labels: np.ndarray) -> None:
        self.name = engine
        self.chunk = CHUNK_SIZES[engine]
        self.network, self.x, self.labels = network, x, labels
        self.run_chunk = make_engine(engine, network, x, targets, labels, RULE, LOSS)

    def warmup(self, indices: np.ndarray) -> None:
        self.run_chunk(indices, LEARNING_RATE)

    def run(self, indices: np.ndarray) -> float:
        run_chunk, eta, chunk = self.run_chunk, LEARNING_RATE, self.chunk
        start = time.perf_counter()
        for i in range(0, len(indices), chunk):
            run_chunk(indices[i : i + chunk], eta)
        return time.perf_counter() - start

    def train_accuracy(self) -> float:
        """Batched forward of the engine's weights (the engine updates them in place)."""
        right = 0
        for i in range(0, len(self.x), 10_000):
            predicted = self.network.forward(self.x[i : i + 10_000]).argmax(1)
            right += int((predicted == self.labels[i : i + 10_000]).sum())
        return right / len(self.x)

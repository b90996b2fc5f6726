"""The peers: the benchmark's workload in PyTorch (batch size 1) and scikit-learn.

Neither is an nnctl dependency; both come with the `bench` extra. A peer that is not installed is
skipped with a note (`missing_peers`), never an error.
"""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np

from benchmarks.workload import LEARNING_RATE, SEED, Runner
from nnctl.core.network import Network

# tool name -> (module that must be importable, how to install it)
PEERS = {
    "torch": ("torch", "pip install torch==2.13.0"),
    "sklearn": ("sklearn", "pip install scikit-learn"),
}


def missing_peers(tools: list[str]) -> dict[str, str]:
    """The peers among `tools` that are not installed, each with a note saying how to install."""
    return {tool: f"{tool}: skipped, not installed (`{PEERS[tool][1]}`, "
                  "or `pip install -e '.[bench]'`)"
            for tool in tools
            if tool in PEERS and importlib.util.find_spec(PEERS[tool][0]) is None}


class TorchRunner:
    """The network in PyTorch (nn.Linear + sigmoid, CrossEntropyLoss, SGD), one example a step.

    `threads` is passed to torch.set_num_threads, which holds for the whole process. The bench
    passes 1 unless told otherwise (--torch-threads): a single example's matrix-vector products
    are too small to gain from a second thread, the fused engine runs on one, and a second
    OpenMP thread on a shared 2-core machine makes PyTorch's timings erratic.
    """

    name = "torch"

    def __init__(self, network: Network, x: np.ndarray, labels: np.ndarray, threads: int) -> None:
        import torch

        self.torch = torch
        torch.set_num_threads(threads)
        layers: list = []
        for l, (W, b) in enumerate(zip(network.weights, network.biases), start=1):
            linear = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():  # nnctl's initial weights (W^[l] is out x in, as in torch)
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if l < len(network.weights):
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers)  # logits; CrossEntropyLoss applies log-softmax
        self.criterion = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(labels.astype(np.int64))
        self.labels = labels

    def warmup(self, indices: np.ndarray) -> None:
        self.run(indices)

    def run(self, indices: np.ndarray) -> float:
        """Seconds for one SGD step per example; the loss and the argmax are read back each step,
        as the nnctl engines return a loss sum and a mistake count."""
        index = self.torch.from_numpy(indices)
        x, y, labels = self.x[index], self.y[index], self.labels[indices]  # before the clock
        model, criterion, optimizer = self.model, self.criterion, self.optimizer
        model.train()
        total, mistakes = 0.0, 0
        start = time.perf_counter()
        for i in range(len(indices)):
            optimizer.zero_grad(set_to_none=True)
            logits = model(x[i : i + 1])
            loss = criterion(logits, y[i : i + 1])
            loss.backward()
            optimizer.step()
            total += loss.item()
            mistakes += int(logits.argmax().item() != labels[i])
        return time.perf_counter() - start

    def train_accuracy(self) -> float:
        with self.torch.no_grad():
            predicted = self.model(self.x).argmax(1)
        return float((predicted == self.y).float().mean())


class SklearnRunner:
    """scikit-learn's MLPClassifier, batch size 1, plain SGD; one partial_fit call is one pass."""

    name = "sklearn"

    def __init__(self, sizes: list[int], x: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.neural_network import MLPClassifier

        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="sgd",
            batch_size=1, learning_rate="constant", learning_rate_init=LEARNING_RATE,
            momentum=0.0, nesterovs_momentum=False, alpha=0.0, max_iter=1,
            shuffle=False,  # the examples come already in the benchmark's shuffled order
            random_state=SEED,
        )
        self.x, self.labels = x, labels
        self.classes = np.arange(sizes[-1])

    def _fit(self, x: np.ndarray, labels: np.ndarray) -> None:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.partial_fit(x, labels, classes=self.classes)

    def warmup(self, indices: np.ndarray) -> None:
        self._fit(self.x[indices], self.labels[indices])  # also draws sklearn's initial weights

    def run(self, indices: np.ndarray) -> float:
        x, labels = self.x[indices], self.labels[indices]  # gathered before the clock
        start = time.perf_counter()
        self._fit(x, labels)
        return time.perf_counter() - start

    def train_accuracy(self) -> float:
        return float(self.model.score(self.x, self.labels))


def make_peer(tool: str, network: Network, x: np.ndarray, labels: np.ndarray,
              torch_threads: int) -> Runner:
    """The runner of peer `tool` ('torch' or 'sklearn') for `network`'s sizes."""
    if tool == "torch":
        return TorchRunner(network, x, labels, torch_threads)
    return SklearnRunner(network.sizes, x, labels)

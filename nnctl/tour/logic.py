"""The small demonstrations on points in the plane: McCulloch-Pitts threshold units, the
perceptron and delta rules (nnctl.core.rules) on separable and non-separable sets, and XOR for one
layer, two linear layers and one hidden layer of sigmoid units (nnctl's network and engine)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nnctl.core.network import Network, init_network
from nnctl.core.rules import delta, one_hot, perceptron
from nnctl.core.schedules import learning_rate
from nnctl.engine import make_engine

BOOLEAN_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_LABELS = np.array([0, 1, 1, 0])


# --------------------------------------------------------------------------- McCulloch-Pitts


def threshold_unit(w: np.ndarray, theta: float, x: np.ndarray) -> np.ndarray:
    """McCulloch-Pitts: a spike (1) where the weighted sum w^T x exceeds the threshold theta."""
    return (x @ w > theta).astype(int)


# name: (weights, threshold, the function it should compute)
LOGIC_UNITS = {
    "AND": (np.array([1.0, 1.0]), 1.5, lambda x: x[:, 0] * x[:, 1]),
    "OR": (np.array([1.0, 1.0]), 0.5, lambda x: np.maximum(x[:, 0], x[:, 1])),
    "NOT": (np.array([-1.0]), -0.5, lambda x: 1 - x[:, 0]),
}


def truth_tables() -> dict[str, list[tuple[list[int], float, int, int]]]:
    """For each unit, rows of (inputs, weighted sum, output, expected output)."""
    tables = {}
    for name, (w, theta, expected) in LOGIC_UNITS.items():
        x = BOOLEAN_INPUTS if len(w) == 2 else np.array([[0.0], [1.0]])
        out, want = threshold_unit(w, theta, x), expected(x)
        tables[name] = [(row.astype(int).tolist(), float(row @ w), int(o), int(e))
                        for row, o, e in zip(x, out, want)]
    return tables


# --------------------------------------------------------------------------- the perceptron rule


@dataclass
class PerceptronRun:
    """The perceptron rule on a 2-D set with targets +-1, one unit, w = 0 at the start, eta = 1."""

    lines: list[np.ndarray]  # (w1, w2, b) after each update, starting with the zero vector
    mistakes: list[int]  # per epoch
    epochs: int

    @property
    def updates(self) -> int:
        return len(self.lines) - 1


def train_perceptron(x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> PerceptronRun:
    """Rosenblatt's rule, nnctl.core.rules.perceptron, until an epoch without a mistake or
    `epochs`."""
    W, b = np.zeros((1, 2)), np.zeros(1)
    rng = np.random.default_rng(seed)
    lines, mistakes = [np.zeros(3)], []
    for _ in range(epochs):
        wrong = 0
        for n in rng.permutation(len(x)):
            _, _, changed = perceptron(W, b, x[n], y[n : n + 1], 1.0)
            if changed:
                wrong += 1
                lines.append(np.concatenate([W[0], b]))
        mistakes.append(wrong)
        if wrong == 0:
            break
    return PerceptronRun(lines, mistakes, len(mistakes))


SEPARABLE_BOX = (0.0, 4.0)


def separable_set(seed: int, n: int = 40, margin: float = 0.2) -> tuple[np.ndarray, np.ndarray,
                                                                         np.ndarray]:
    """n points in the square SEPARABLE_BOX labelled +-1 by the line x1 - 2 x2 + 3 = 0, none
    nearer to it than `margin`; and that line as (w1, w2, b). Away from the origin, so that the
    bias has to be learnt too."""
    line = np.array([1.0, -2.0, 3.0])
    rng = np.random.default_rng(seed)
    x = rng.uniform(*SEPARABLE_BOX, (8 * n, 2))
    distance = (x @ line[:2] + line[2]) / np.linalg.norm(line[:2])
    far = np.abs(distance) >= margin
    return x[far][:n], np.where(distance[far][:n] > 0, 1.0, -1.0), line


def extended(x: np.ndarray) -> np.ndarray:
    """x with the constant input 1 on which the bias is the weight."""
    return np.hstack([x, np.ones((len(x), 1))])


def novikoff_bound(x: np.ndarray, y: np.ndarray, separators: list[np.ndarray]) -> tuple[float,
                                                                                         float,
                                                                                         float]:
    """(R / gamma)^2 with R = max |(x, 1)| and gamma the largest margin min_n y_n u^T (x_n, 1)
    among the unit vectors u of the given separating (w, b): the perceptron makes at most that
    many updates (Novikoff 1962), whichever separator gives gamma."""
    X = extended(x)
    R = float(np.linalg.norm(X, axis=1).max())
    gamma = max(float((y * (X @ (u / np.linalg.norm(u)))).min()) for u in separators)
    return (R / gamma) ** 2, R, gamma


# --------------------------------------------------------------------------- non-separable


def overlapping_set(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds (sd 1) of n points each around (-0.8, -0.4) and (0.8, 0.4): they
    overlap, so no line separates them."""
    rng = np.random.default_rng(seed)
    centres = np.array([[-0.8, -0.4], [0.8, 0.4]])
    x = np.vstack([rng.normal(c, 1.0, (n, 2)) for c in centres])
    return x, np.repeat([-1.0, 1.0], n)


@dataclass
class DeltaRun:
    """The delta rule on a 2-D set: J(w) = 1/2 mean (y - w^T x)^2 after each epoch, and the
    least-squares solution it should approach."""

    J: list[float]
    line: np.ndarray  # (w1, w2, b) at the end
    lstsq: np.ndarray
    J_min: float
    schedule: tuple[str, float, float]


def squared_error(x: np.ndarray, y: np.ndarray, line: np.ndarray) -> float:
    residual = y - extended(x) @ line
    return float(0.5 * (residual**2).mean())


def train_delta(x: np.ndarray, y: np.ndarray, epochs: int, seed: int,
                schedule: tuple[str, float, float] = ("inverse", 0.05, 0.05)) -> DeltaRun:
    """Widrow-Hoff, nnctl.core.rules.delta, with eta from nnctl.core.schedules (`schedule`:
    name, eta, decay); against numpy.linalg.lstsq's minimum of the same J."""
    W, b = np.zeros((1, 2)), np.zeros(1)
    rng = np.random.default_rng(seed)
    J = []
    for epoch in range(1, epochs + 1):
        eta = learning_rate(schedule[0], schedule[1], schedule[2], epoch)
        for n in rng.permutation(len(x)):
            delta(W, b, x[n], y[n : n + 1], eta)
        J.append(squared_error(x, y, np.concatenate([W[0], b])))
    solution = np.linalg.lstsq(extended(x), y, rcond=None)[0]
    return DeltaRun(J, np.concatenate([W[0], b]), solution, squared_error(x, y, solution),
                    schedule)


# --------------------------------------------------------------------------- XOR


@dataclass
class XorRun:
    """A network trained by backprop (nnctl's reference engine) on the four XOR points."""

    network: Network
    solved_at: int | None  # the first epoch after which all four are right
    best_right: int  # most points right after any epoch
    epochs: int
    right_by_epoch: list[int] = field(default_factory=list)


def train_xor(hidden: list[int], activation: str, eta: float, epochs: int, seed: int) -> XorRun:
    """A 2-hidden-2 network (softmax outputs, cross-entropy) on XOR, per example, `epochs`."""
    network = init_network([2, *hidden, 2], activation, "softmax", "xavier", 1.0,
                           np.random.default_rng(seed), "float64")
    run_chunk = make_engine("reference", network, BOOLEAN_INPUTS,
                            one_hot(XOR_LABELS, 2, "float64"), XOR_LABELS, "backprop",
                            "cross_entropy")
    order = np.random.default_rng(seed)
    right = []
    for _ in range(epochs):
        run_chunk(order.permutation(4), eta)
        right.append(int((network.forward(BOOLEAN_INPUTS).argmax(1) == XOR_LABELS).sum()))
    solved = next((k + 1 for k, r in enumerate(right) if r == 4), None)
    return XorRun(network, solved, max(right), epochs, right)


def collapse(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """A network of identity hidden units as the one layer it equals: W = W^[2] W^[1],
    b = W^[2] b^[1] + b^[2] (for any number of layers)."""
    W, b = network.weights[0], network.biases[0]
    for W_l, b_l in zip(network.weights[1:], network.biases[1:]):
        W, b = W_l @ W, W_l @ b + b_l
    return W, b

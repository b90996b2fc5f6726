"""The lecture's calculus refresher as a tool: backprop's gradient against central differences.

For a few real training examples, one at a time: the gradient the reference engine steps along
(W_before - W_after with eta = 1, so every rule is checked, not only backprop) against
(loss(w + eps) - loss(w - eps)) / (2 eps) for a sample of the weights of every layer, in float64.
With dropout configured, each example gets one mask (drawn as in training), and both sides see it:
the gradient is that of the thinned network the example trains.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from nnctl.core.dropout import config_dropout, layer_keeps
from nnctl.core.losses import loss_function
from nnctl.core.network import Network, init_network
from nnctl.core.rules import TARGETS
from nnctl.engine import make_engine, reference
from nnctl.engine.inputs import ChunkMasks
from nnctl.errors import NnctlError
from nnctl.io.config import Config, check_initial_network
from nnctl.io.examples import load_training_data

EPSILON = 1e-6
TOLERANCE = 1e-6
SAMPLE = 40  # weights checked per layer and example (biases: all, up to this many)


class GradcheckFailed(NnctlError):
    """Backprop's gradient and the finite differences disagree (exit status 1)."""


@dataclass
class LayerCheck:
    name: str  # "layers.1.weight"
    shape: tuple[int, ...]
    checked: int
    largest_gradient: float
    error: float  # largest |backprop - finite difference| / largest |gradient| of the layer

    @property
    def ok(self) -> bool:
        return self.error <= TOLERANCE


def initial_network(config: Config, inputs: int, classes: int) -> tuple[Network, str]:
    """The configured initial weights in float64; a zeros init would sit on the perceptron's kink
    and give every hidden unit the same gradient, so it is replaced by small random weights."""
    model = config.model
    scheme, scale, note = model.init.scheme, model.init.scale, ""
    if scheme == "zeros":
        scheme, scale, note = ("normal", 0.01,
                               "init zeros replaced by normal(0, 0.01) weights to check at")
    network = init_network([inputs, *model.hidden, classes], model.activation, model.output, scheme,
                           scale, np.random.default_rng(config.training.seed), "float64")
    return network, note


def backprop_gradient(network: Network, x: np.ndarray, y: np.ndarray, label: int, rule: str,
                      loss: str, keep: np.ndarray | None = None) -> list[np.ndarray]:
    """d loss / d W^[l] and d loss / d b^[l] (in that order, layer by layer) as the engine steps
    (with the hidden dropout factors `keep`, if any)."""
    stepped = network.copy()
    run_chunk = make_engine("reference", stepped, x[None, :], y[None, :], np.array([label]), rule,
                            loss)
    run_chunk(np.array([0]), 1.0, None, None if keep is None else keep[None, :])
    before = network.weights + network.biases
    after = stepped.weights + stepped.biases
    return [b - a for b, a in zip(before, after)]


def check(config: Config, examples: int = 3, seed: int = 0) -> tuple[list[LayerCheck], str]:
    """Compare the gradients on `examples` real training examples; one LayerCheck per array."""
    config = copy.deepcopy(config)  # the caller's config stays as it was
    config.training.dtype = "float64"
    config.data.limit, config.data.validation = examples, 0  # only the examples checked
    data = load_training_data(config.data, "float64")
    network, note = initial_network(config, data.train.x.shape[1], data.classes)
    check_initial_network(config, network, data.train.x[:])
    rule, loss = config.training.rule, config.training.loss
    loss_of = loss_function(loss, network.output)
    targets = TARGETS[rule](data.train.labels[:examples], data.classes, "float64")
    rng = np.random.default_rng(seed)
    arrays = network.weights + network.biases
    L = len(network.weights)
    names = ([f"layers.{l}.weight" for l in range(1, L + 1)]
             + [f"layers.{l}.bias" for l in range(1, L + 1)])
    worst = [0.0] * len(arrays)
    largest = [0.0] * len(arrays)
    checked = [0] * len(arrays)

    dropout = config_dropout(config)
    masks = (ChunkMasks(dropout, network.sizes, config.training.seed, network.dtype)
             if dropout else None)
    if dropout:
        masked = (f"one dropout mask per example (input p = {dropout.input:g}, hidden p = "
                  f"{dropout.hidden:g})")
        note = f"{note}; {masked}" if note else masked
    input_keep, hidden_keep = masks.draw(0, 0, examples) if masks else (None, None)

    def loss_at(x: np.ndarray, y: np.ndarray, keep: np.ndarray | None) -> float:
        if keep is None:
            return float(loss_of(network.forward(x[None, :]), y[None, :])[0])
        return float(thinned_loss(network, x, y, keep, loss))

    for n in range(min(examples, len(data.train))):
        x, y = data.train.x[n], targets[n]
        x = x if input_keep is None else x * input_keep[n]
        keep = None if hidden_keep is None else hidden_keep[n]
        gradients = backprop_gradient(network, x, y, int(data.train.labels[n]), rule, loss, keep)
        for k, (array, gradient) in enumerate(zip(arrays, gradients)):
            flat, grad = array.reshape(-1), gradient.reshape(-1)
            picks = _sample(grad, rng)
            numeric = np.empty(len(picks))
            for i, index in enumerate(picks):
                saved = flat[index]
                flat[index] = saved + EPSILON
                plus = loss_at(x, y, keep)
                flat[index] = saved - EPSILON
                minus = loss_at(x, y, keep)
                flat[index] = saved
                numeric[i] = (plus - minus) / (2 * EPSILON)
            scale = max(np.abs(grad).max(), np.abs(numeric).max(), np.finfo(float).tiny)
            worst[k] = max(worst[k], float(np.abs(grad[picks] - numeric).max() / scale))
            largest[k] = max(largest[k], float(np.abs(grad).max()))
            checked[k] += len(picks)
    results = [LayerCheck(name, array.shape, c, g, e)
               for name, array, c, g, e in zip(names, arrays, checked, largest, worst)]
    return results, note


def thinned_loss(network: Network, x: np.ndarray, y: np.ndarray, keep: np.ndarray,
                 loss: str) -> float:
    """The loss of one example through the network thinned by the hidden dropout factors `keep`
    (the reference engine's forward pass)."""
    fn = reference.functions(network.activation, network.output, loss)
    W, b = [None, *network.weights], [None, *network.biases]
    a = reference.forward(W, b, x, fn, layer_keeps(keep, network.sizes))[1]
    return fn.loss(a[-1], y)


def _sample(gradient: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to SAMPLE entries: mostly where the gradient is non-zero, some anywhere."""
    if len(gradient) <= SAMPLE:
        return np.arange(len(gradient))
    nonzero = np.flatnonzero(gradient)
    some = (rng.choice(nonzero, min(len(nonzero), 3 * SAMPLE // 4), replace=False)
            if len(nonzero) else nonzero)
    anywhere = rng.choice(len(gradient), SAMPLE - len(some), replace=False)
    return np.unique(np.concatenate([some, anywhere]))


def verdict(results: list[LayerCheck], rule: str = "backprop") -> str:
    """One line for a pass; GradcheckFailed naming the worst array and the rule otherwise."""
    worst = max(results, key=lambda r: r.error)
    if not worst.ok:
        step = "backprop" if rule == "backprop" else f"the {rule} rule's step"
        raise GradcheckFailed(
            f"gradcheck failed: {worst.name}: {step} and central differences differ by "
            f"{worst.error:.2e} of the gradient's size (tolerance {TOLERANCE:g})"
        )
    return (f"gradcheck passed: largest relative error {worst.error:.2e} <= {TOLERANCE:g} "
            f"({worst.name})")

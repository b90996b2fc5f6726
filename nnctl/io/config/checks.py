"""The checks of a whole config: where each value came from (a file or --set, for the error
messages), the output function and loss that go with the learning rule, combinations of keys that
make no sense, and what only this machine or the initial weights can tell (memory, overflow)."""

from __future__ import annotations

import itertools
import typing
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnctl.core.losses import OUTPUT_DELTAS
from nnctl.core.network import Network
from nnctl.errors import ConfigError
from nnctl.io.config.schema import Config, held_out, too_many_held_out
from nnctl.io.config.shown import shorten
from nnctl.io.machine import physical_memory

# The single-layer rules train a linear unit on their own criterion with targets y = +-1.
RULE_LOSS = {"perceptron": "perceptron", "delta": "squared_error"}
# The network's input and output sizes come from the data; until it is read, assume MNIST's.
ASSUMED_INPUTS, ASSUMED_CLASSES = 784, 10
INIT_CHECK_EXAMPLES = 1000  # training examples the initial network's outputs are checked on


@dataclass(frozen=True)
class Blame:
    """where(key) -> 'FILE: key', or '--set KEY' for a key given with --set (a class, not a
    closure, so that a Config carrying it can be pickled)."""

    source: str
    overrides: tuple[str, ...] = ()

    def __call__(self, key: str) -> str:
        for given in reversed(self.overrides):
            if key == given:
                return f"--set {shorten(given)}"
            if key.startswith(given + ".") or given.startswith(key + "."):
                return f"--set {shorten(given)}: {shorten(key)}"
        return f"{self.source}: {shorten(key)}"


def resolve_and_check(config: Config, where: Callable[[str], str]) -> None:
    """Fill rule-dependent defaults, then refuse combinations that make no sense."""
    _resolve_rule(config, where)
    training, data = config.training, config.data
    elastic = config.data.augment.elastic
    if (elastic.sigma > 0) != (elastic.alpha > 0):
        raise ConfigError(f"{where('data.augment.elastic')}: sigma (the smoothing) and alpha (the "
                          "strength) go together: set both > 0, or neither")
    if training.dropout.hidden > 0 and not config.model.hidden:
        raise ConfigError(f"{where('training.dropout.hidden')}: the network has no hidden layer "
                          "(model.hidden is empty)")
    for key in ("momentum", "max_norm"):
        if getattr(training, key) > 0 and training.rule != "backprop":
            raise ConfigError(f"{where('training.' + key)}: is for training.rule: backprop, not "
                              f"the {training.rule} rule")
    if data.stream and data.deskew:
        raise ConfigError(f"{where('data.stream')}: cannot go with data.deskew (deskewed inputs "
                          "are computed for the whole set at once)")
    if training.schedule == "exponential" and training.decay >= 1:
        raise ConfigError(f"{where('training.decay')}: the exponential schedule needs decay < 1")
    if training.stop.patience is not None and data.validation == 0:
        raise ConfigError(
            f"{where('training.stop.patience')}: needs a validation split (data.validation > 0)"
        )
    if data.limit is not None and held_out(data.validation, data.limit) >= data.limit:
        raise ConfigError(f"{where('data.validation')}: "
                          f"{too_many_held_out(data.validation, data.limit, ' (data.limit)')}")
    _check_dtype_range(config, where)
    sizes = [ASSUMED_INPUTS, *config.model.hidden, ASSUMED_CLASSES]
    problem = network_memory_problem(sizes, training.dtype)
    if problem:
        raise ConfigError(f"{where('model.hidden')}: {problem} (assuming {ASSUMED_INPUTS} inputs "
                          f"and {ASSUMED_CLASSES} classes)")


def _resolve_rule(config: Config, where: Callable[[str], str]) -> None:
    """The output function and loss that go with training.rule, refusing ones that do not."""
    model, training = config.model, config.training
    rule = training.rule
    if rule in RULE_LOSS:
        if model.hidden:
            raise ConfigError(
                f"{where('model.hidden')}: the {rule} rule trains a single layer; "
                "set model.hidden: [] or training.rule: backprop"
            )
        if model.output not in (None, "identity"):
            raise ConfigError(
                f"{where('model.output')}: the {rule} rule trains linear units (identity output), "
                f"not {model.output}"
            )
        if training.loss not in (None, RULE_LOSS[rule]):
            raise ConfigError(
                f"{where('training.loss')}: the {rule} rule minimises {RULE_LOSS[rule]}, "
                f"not {training.loss}"
            )
        model.output = "identity"
        training.loss = RULE_LOSS[rule]
        return
    model.output = model.output or "softmax"
    training.loss = training.loss or "cross_entropy"
    if training.loss == "perceptron":
        raise ConfigError(
            f"{where('training.loss')}: the perceptron criterion goes with "
            "training.rule: perceptron"
        )
    if (training.loss, model.output) not in OUTPUT_DELTAS:
        raise ConfigError(
            f"{where('training.loss')}: {training.loss} needs probabilities; "
            f"use model.output: softmax or sigmoid (got {model.output})"
        )


def _check_dtype_range(config: Config, where: Callable[[str], str]) -> None:
    """The numbers cast to training.dtype must stay finite there (and the learning rate > 0)."""
    dtype = config.training.dtype
    largest, smallest = float(np.finfo(dtype).max), float(np.finfo(dtype).tiny)
    eta = config.training.learning_rate
    for key, value in (("training.learning_rate", eta),
                       ("model.init.scale", config.model.init.scale)):
        if value > largest:
            raise ConfigError(f"{where(key)}: {value:g} does not fit training.dtype {dtype} "
                              f"(largest {largest:.4g})")
    if eta < smallest:
        raise ConfigError(f"{where('training.learning_rate')}: {eta:g} is below the smallest "
                          f"normal {dtype} number, {smallest:.4g}")


def network_memory_problem(sizes: typing.Sequence[int], dtype: str) -> str | None:
    """Why a network with these layer sizes cannot be built on this machine, or None: its weights,
    drawn in float64 and kept in `dtype`, must fit in the physical memory."""
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    need = weights * (8 + np.dtype(dtype).itemsize)
    memory = physical_memory()
    if memory is None or need <= memory:
        return None
    return (f"layers {'-'.join(map(str, sizes))} make {weights:,} weights, {need / 2**30:.1f} GiB "
            f"to draw (float64) and keep ({dtype}), more than this machine's "
            f"{memory / 2**30:.1f} GiB of memory")


def check_initial_network(config: Config, network: Network, x: np.ndarray) -> None:
    """The initial weights drawn by model.init must be finite in the network's dtype, and so must
    its outputs' logits for the inputs `x` (the first training examples): otherwise a ConfigError
    names model.init.scale and where it came from, before any training (not a divergence)."""
    init, dtype = config.model.init, network.dtype
    what = f"{init.scale:g} (init scheme {init.scheme})"
    if not all(np.isfinite(W).all() for W in network.weights):
        raise ConfigError(f"{config.where('model.init.scale')}: {what} draws initial weights "
                          f"beyond the range of {dtype} (largest {np.finfo(dtype).max:.4g}); "
                          "use a smaller scale")
    with np.errstate(all="ignore"):
        finite = np.isfinite(network.logits(x)).all(axis=1)
    if not finite.all():
        raise ConfigError(f"{config.where('model.init.scale')}: {what} makes the initial "
                          f"network's outputs overflow {dtype} (training example "
                          f"#{int(np.argmin(finite))}) before any training; use a smaller scale")

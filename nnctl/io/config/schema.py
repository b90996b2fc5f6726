"""The config's schema: its sections and keys as dataclasses, each key with its type, default,
`help=` (the config reference is generated from it) and check of its own value.

The config is the experiment: every key has a type, a default and a range. Choices are read from
the tables of the modules that implement them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from typing import Any

from nnctl.core.activations import ACTIVATIONS, OUTPUTS
from nnctl.core.distortions import KEYS as AUGMENT_LIMITS
from nnctl.core.losses import LOSSES
from nnctl.core.network import INITIALIZERS
from nnctl.core.rules import SINGLE_LAYER_RULES
from nnctl.core.schedules import SCHEDULES
from nnctl.engine import ENGINES
from nnctl.io.config.shown import shorten, show_value

DTYPES = ("float32", "float64")
RULES = ("backprop", *SINGLE_LAYER_RULES)  # the rule choices: backprop, perceptron, delta
KEEP = ("all", "best-last")
MAX_HIDDEN_UNITS = 100_000
MAX_HIDDEN_LAYERS = 100


def _positive(x: float) -> str | None:
    return None if x > 0 else f"must be > 0, got {show_value(x)}"


def _non_negative(x: float) -> str | None:
    return None if x >= 0 else f"must be >= 0, got {show_value(x)}"


def _fraction(x: float) -> str | None:
    return None if 0 <= x < 1 else "must be >= 0 and < 1"


def _count_or_fraction(x: float) -> str | None:
    """data.validation: a whole number of examples (>= 0), or a fraction of them (0 < f < 1)."""
    if isinstance(x, int):
        return _non_negative(x)
    if 0 < x < 1:
        return None
    return (f"must be a whole number of examples (>= 0) or a fraction of them (> 0 and < 1), "
            f"got {show_value(x)}")


# data.validation's default: a twelfth of the training examples, 5,000 of MNIST's 60,000
# (0.08333 x 60,000 = 4,999.8, rounded to 5,000: see held_out).
VALIDATION_FRACTION = 0.08333


def held_out(validation: float, examples: int) -> int:
    """How many of `examples` data.validation holds out: a count as it is; a fraction f of them
    rounded to the nearest whole number (halves up), and at least 1."""
    if isinstance(validation, int):
        return validation
    return max(1, math.floor(validation * examples + 0.5))


def too_many_held_out(validation: float, examples: int, whose: str = "") -> str:
    """Why holding out `validation` of `examples` (`whose`: say, " (data.limit)") leaves none to
    train on, and the fix."""
    count = held_out(validation, examples)
    what = (f"{count:,} examples" if isinstance(validation, int)
            else f"{validation:g} of them ({count:,} examples)")
    fix = "a tenth: --set data.validation=0.1" if held_out(0.1, examples) < examples else (
        "none: --set data.validation=0")
    return (f"holding out {what} for validation leaves none of the {examples:,}{whose} to train "
            f"on; hold out fewer, say {fix}")


def _up_to(limit: float):
    """A check: a number from 0 to `limit`."""

    def check(x: float) -> str | None:
        return None if 0 <= x <= limit else f"must be from 0 to {limit:g}, got {show_value(x)}"

    return check


def _sizes(xs: list[int]) -> str | None:
    if len(xs) > MAX_HIDDEN_LAYERS:
        return f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(xs):,}"
    if all(0 < x <= MAX_HIDDEN_UNITS for x in xs):
        return None
    return f"every hidden layer size must be > 0 and <= {MAX_HIDDEN_UNITS:,}, got {show_value(xs)}"


def _choice(names: typing.Iterable[str]):
    names = tuple(names)

    def check(x: str) -> str | None:
        if x in names:
            return None
        close = difflib.get_close_matches(x, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown value {show_value(x)}{hint}; choose from {', '.join(names)}"

    return check


def _key(default: Any = None, check=None, *, factory=None, help: str = "") -> Any:
    meta = {"check": check, "help": help}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# The keys whose values are file paths (a sweep makes them absolute; `nnctl runs` ignores them).
PATH_KEYS = ("data.dir", "data.train_images", "data.train_labels", "data.test_images",
             "data.test_labels")


@dataclass
class InitConfig:
    scheme: str = _key("lecun", _choice(INITIALIZERS),
                       help=f"weight initialisation: {', '.join(INITIALIZERS)}")
    scale: float = _key(1.0, _non_negative, help="multiplies the scheme's spread")


@dataclass
class ModelConfig:
    hidden: list[int] = _key(check=_sizes, factory=list,
                             help="hidden layer sizes; [] = single layer")
    activation: str = _key("sigmoid", _choice(ACTIVATIONS),
                           help=f"hidden activation phi: {', '.join(ACTIVATIONS)}")
    output: str | None = _key(None, _choice(OUTPUTS),
                              help=f"output function psi: {', '.join(OUTPUTS)} (default: softmax; "
                                   "identity for the perceptron and delta rules)")
    init: InitConfig = _key(factory=InitConfig, help="the initial weights")


@dataclass
class StopConfig:
    no_mistakes: bool = _key(False, help="stop after an epoch with zero training mistakes")
    tolerance: float | None = _key(None, _positive, help="stop when |dJ|/J < tolerance")
    patience: int | None = _key(None, _positive,
                                help="stop after this many epochs without a better val acc")


@dataclass
class DropoutConfig:
    input: float = _key(0.0, _fraction,
                        help="inverted dropout: chance that an input pixel is dropped for an "
                             "example; 0 = off")
    hidden: float = _key(0.0, _fraction,
                         help="inverted dropout: chance that a hidden unit is dropped for an "
                              "example; 0 = off")


@dataclass
class TrainingConfig:
    rule: str = _key("backprop", _choice(RULES),
                     help=f"learning rule: {', '.join(RULES)} (the last two: single layer only)")
    loss: str | None = _key(None, _choice(LOSSES),
                            help=f"loss J: {', '.join(LOSSES)} (default: cross_entropy; the "
                                 "perceptron and delta rules' own criterion)")
    learning_rate: float = _key(0.1, _positive, help="eta, the step size of epoch 1 (lr)")
    schedule: str = _key("constant", _choice(SCHEDULES),
                         help=f"eta per epoch: {', '.join(SCHEDULES)}")
    decay: float = _key(0.0, _non_negative, help="inverse: eta / (1 + decay t); exponential: "
                                                 "eta (1 - decay)^t; t = epochs done")
    epochs: int = _key(10, _non_negative, help="passes over the training examples (at most)")
    shuffle: bool = _key(True, help="a new random order of the examples every epoch")
    seed: int = _key(0, _non_negative, help="seed of the initial weights and of the shuffles")
    dtype: str = _key("float32", _choice(DTYPES),
                      help=f"floating-point type of weights and arithmetic: {', '.join(DTYPES)}")
    engine: str = _key("auto", _choice(("auto", *ENGINES)),
                       help="auto (= fused: compiled with numba), fused, or reference (the "
                            "lecture's loop in numpy); the same equations")
    keep: str = _key("all", _choice(KEEP),
                     help="checkpoints kept: all (one per epoch) or best-last (best.npz and "
                          "last.npz, plus the first layer's first 100 units per epoch for "
                          "inspect-weights' montage)")
    stop: StopConfig = _key(factory=StopConfig, help="stop conditions besides epochs")
    dropout: DropoutConfig = _key(factory=DropoutConfig,
                                  help="dropout while training (none at evaluation)")
    momentum: float = _key(0.0, _fraction,
                           help="momentum mu (backprop): v <- mu v - eta dJ/dW, W <- W + v, each "
                                "weight and bias with its own velocity v; 0 = off")
    average: float = _key(0.0, _fraction,
                          help="beta: after each epoch the model becomes beta x itself + (1 - "
                               "beta) x the weights SGD reached (an exponential moving average "
                               "of the epochs' weights, from epoch 1's); validation, checkpoints "
                               "and the test use it, SGD goes on from its own weights; 0 = off")
    max_norm: float = _key(0.0, _non_negative,
                           help="max-norm c (backprop): after each example's update, every hidden "
                                "unit's incoming weights (not its bias, not the output layer's "
                                "units) longer than c are scaled back to length c; 0 = off")


@dataclass
class ElasticConfig:
    sigma: float = _key(0.0, _up_to(AUGMENT_LIMITS["sigma"][1]),
                        help="elastic distortion (Simard 2003): Gaussian sd of the smoothing, "
                             "pixels; 0 = off")
    alpha: float = _key(0.0, _up_to(AUGMENT_LIMITS["alpha"][1]),
                        help="elastic distortion: scale of the displacement, pixels; 0 = off")


@dataclass
class AffineConfig:
    rotation: float = _key(0.0, _up_to(AUGMENT_LIMITS["rotation"][1]),
                           help="random rotation up to +- this, degrees")
    scale: float = _key(0.0, _up_to(AUGMENT_LIMITS["scale"][1]),
                        help="random scaling by 1 +- up to this, horizontal and vertical apart")
    shear: float = _key(0.0, _up_to(AUGMENT_LIMITS["shear"][1]),
                        help="random shear up to +- this, degrees")
    translation: float = _key(0.0, _up_to(AUGMENT_LIMITS["translation"][1]),
                              help="random shift up to +- this, pixels, x and y apart")


@dataclass
class AugmentConfig:
    elastic: ElasticConfig = _key(factory=ElasticConfig,
                                  help="elastic distortions of the training images")
    affine: AffineConfig = _key(factory=AffineConfig,
                                help="affine distortions of the training images")


@dataclass
class DataConfig:
    dir: str | None = _key(None, help="directory with the four standard MNIST file names "
                                      "(default: the bundled MNIST)")
    train_images: str | None = _key(None, help="IDX file of the training images (instead of dir's)")
    train_labels: str | None = _key(None, help="IDX file of the training labels (instead of dir's)")
    test_images: str | None = _key(None, help="IDX file of the test images (instead of dir's)")
    test_labels: str | None = _key(None, help="IDX file of the test labels (instead of dir's)")
    validation: int | float = _key(
        VALIDATION_FRACTION, _count_or_fraction,
        help="examples held out from the end of train for validation: a whole number, or a "
             "fraction of them (0 < f < 1, rounded to the nearest example); the default, 0.08333 "
             "(a twelfth), holds out 5,000 of MNIST's 60,000; 0 = none")
    limit: int | None = _key(None, _positive, help="use only the first N training examples")
    deskew: bool = _key(False, help="shear each digit upright by its moments (train, validation, "
                                    "test and predict alike)")
    stream: bool = _key(False, help="make the training inputs a chunk at a time from the pixels "
                                    "as read, uncompressed IDX files memory-mapped: memory does "
                                    "not grow with the data set (the same numbers, a little "
                                    "slower)")
    augment: AugmentConfig = _key(factory=AugmentConfig,
                                  help="distortions drawn afresh for every training example of "
                                       "every epoch (never for validation or test); absent: none")


@dataclass
class Config:
    model: ModelConfig = _key(factory=ModelConfig, help="the network")
    training: TrainingConfig = _key(factory=TrainingConfig, help="how it learns")
    data: DataConfig = _key(factory=DataConfig, help="the examples")

    def where(self, key: str) -> str:
        """Where the value of `key` came from, to begin an error message with: `FILE: key`,
        `--set KEY`, or the key alone for a Config built in code (see `config_from_dict`)."""
        blame = self.__dict__.get("_blame")
        return blame(key) if blame is not None else shorten(key)


def describe_keys(cls: type = Config, prefix: str = "") -> list[dict[str, str]]:
    """Every config key that holds a value, dotted, with its type, default and help, in the
    order of the dataclasses: {"key": "training.epochs", "type": "int", "default": "10",
    "help": ...}."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            keys += describe_keys(hint, f"{prefix}{f.name}.")
            continue
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        shown = ("null" if default is None else str(default).lower() if isinstance(default, bool)
                 else str(default))
        kind = hint.__name__ if typing.get_origin(hint) is None else str(hint)
        keys.append({"key": prefix + f.name, "type": kind, "default": shown,
                     "help": f.metadata["help"]})
    return keys


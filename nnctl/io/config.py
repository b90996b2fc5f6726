"""YAML config -> validated dataclasses.

The config is the experiment: every key has a type, a default and a range, unknown keys are
errors (with a did-you-mean), and combinations that make no sense are refused before any work
starts. Choices are read from the tables of the modules that implement them.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
import reprlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnctl.core.activations import ACTIVATIONS, OUTPUTS
from nnctl.core.distortions import KEYS as AUGMENT_LIMITS
from nnctl.core.losses import LOSSES, OUTPUT_DELTAS
from nnctl.core.network import INITIALIZERS, Network
from nnctl.core.rules import SINGLE_LAYER_RULES
from nnctl.core.schedules import SCHEDULES
from nnctl.engine import ENGINES
from nnctl.errors import ConfigError, one_line
from nnctl.io.data import physical_memory
from nnctl.io.inputs import open_regular

DTYPES = ("float32", "float64")
RULES = ("backprop", *SINGLE_LAYER_RULES)  # the rule choices: backprop, perceptron, delta
KEEP = ("all", "best-last")
# The single-layer rules train a linear unit on their own criterion with targets y = +-1.
RULE_LOSS = {"perceptron": "perceptron", "delta": "squared_error"}

# Hostile input is bounded before it costs time or memory. A config is a few lines: 64 KiB keeps
# the pure-Python YAML parser well under a second; it needs 3 levels of nesting, no aliases.
MAX_CONFIG_BYTES = 64 * 1024
MAX_SET_LENGTH = 4096
MAX_DEPTH = 20
MAX_DIGITS = 100  # below Python's 4300-digit limit on int(str)
MAX_INT = 2**63 - 1  # every whole number fits a 64-bit integer
MAX_HIDDEN_UNITS = 100_000
MAX_HIDDEN_LAYERS = 100
# The network's input and output sizes come from the data; until it is read, assume MNIST's.
ASSUMED_INPUTS, ASSUMED_CLASSES = 784, 10
INIT_CHECK_EXAMPLES = 1000  # training examples the initial network's outputs are checked on

# Names other tools use for nnctl's keys, for the did-you-mean of an unknown key.
ALIASES = {
    "lr": "training.learning_rate",
    "epochs_max": "training.epochs",
    "max_epochs": "training.epochs",
    "n_epochs": "training.epochs",
    "num_epochs": "training.epochs",
    "hidden_layers": "model.hidden",
    "hidden_sizes": "model.hidden",
    "layers": "model.hidden",
    "optimizer": "training.rule",
    "activation_function": "model.activation",
    "weight_init": "model.init.scheme",
    "random_seed": "training.seed",
}
UNSUPPORTED = {
    "batch_size": "nnctl trains per example (plain SGD, one update per example): there is no "
                  "batch size",
    "momentum": "momentum is not supported (plain SGD: w -= eta * gradient)",
}


def _positive(x: float) -> str | None:
    return None if x > 0 else f"must be > 0, got {_show(x)}"


def _non_negative(x: float) -> str | None:
    return None if x >= 0 else f"must be >= 0, got {_show(x)}"


def _fraction(x: float) -> str | None:
    return None if 0 <= x < 1 else "must be >= 0 and < 1"


def _up_to(limit: float):
    """A check: a number from 0 to `limit`."""

    def check(x: float) -> str | None:
        return None if 0 <= x <= limit else f"must be from 0 to {limit:g}, got {_show(x)}"

    return check


def _sizes(xs: list[int]) -> str | None:
    if len(xs) > MAX_HIDDEN_LAYERS:
        return f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(xs):,}"
    if all(0 < x <= MAX_HIDDEN_UNITS for x in xs):
        return None
    return f"every hidden layer size must be > 0 and <= {MAX_HIDDEN_UNITS:,}, got {_show(xs)}"


def _choice(names: typing.Iterable[str]):
    names = tuple(names)

    def check(x: str) -> str | None:
        if x in names:
            return None
        close = difflib.get_close_matches(x, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown value {_show(x)}{hint}; choose from {', '.join(names)}"

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
    validation: int = _key(5000, _non_negative, help="examples held out from the end of train")
    limit: int | None = _key(None, _positive, help="use only the first N training examples")
    deskew: bool = _key(False, help="shear each digit upright by its moments (train, validation, "
                                    "test and predict alike)")
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
        return blame(key) if blame is not None else _shorten(key)


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


# --------------------------------------------------------------------------- parsing


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML config file, apply `--set dotted.key=value` overrides, validate."""
    source = str(path)
    raw = parse_yaml(read_config_text(Path(path)), source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the config must be a mapping with sections model, training, data"
        )
    return config_with_overrides(raw, source, overrides)


def config_with_overrides(raw: dict, source: str, overrides: typing.Sequence[str] = ()) -> Config:
    """The config of a mapping read from `source` with `--set dotted.key=value` overrides applied
    (to `raw` itself), validated."""
    given = []
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(raw, key, value, source=f"--set {_shorten(key)}")
        given.append(key)
    return config_from_dict(raw, source, given)


def read_config_text(path: Path) -> str:
    """The text of a config file: a regular file (never a FIFO) of at most MAX_CONFIG_BYTES,
    UTF-8."""
    try:
        with open_regular(path, "a YAML config file", ConfigError, MAX_CONFIG_BYTES) as f:
            data = f.read(MAX_CONFIG_BYTES + 1)  # the file may have grown since
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {one_line(e)}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a few "
                          "lines of YAML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte 0x{data[e.start]:02x} at offset "
                          f"{e.start})") from None


class Refused(yaml.MarkedYAMLError):
    """Valid YAML that a config may not use: aliases, deep nesting, a duplicate key, a huge
    number."""


class ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader bounded for untrusted text: no anchors or aliases (no "billion laughs"), at
    most MAX_DEPTH nested collections (no RecursionError), no duplicate keys, no huge integers."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise Refused(None, None, "YAML aliases (&, *) are not allowed in a config",
                          event.start_mark)
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if self.depth == MAX_DEPTH:
            raise Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        first_line = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue  # unhashable keys are refused by SafeLoader itself
            key = self.construct_object(key_node)
            if key in first_line:
                raise Refused(None, None, f"duplicate key {_show(key)} (first on line "
                              f"{first_line[key] + 1})", key_node.start_mark)
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if len(node.value) > MAX_DIGITS:
            raise Refused(None, None, f"a number of more than {MAX_DIGITS} digits", node.start_mark)
        return super().construct_yaml_int(node)


ConfigLoader.add_constructor("tag:yaml.org,2002:int", ConfigLoader.construct_yaml_int)


def parse_yaml(text: str, source: str) -> Any:
    """YAML text -> Python value (with ConfigLoader's bounds); errors name the line and column."""
    try:
        return yaml.load(text, Loader=ConfigLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        kind = "" if isinstance(e, Refused) else "invalid YAML: "
        raise ConfigError(f"{source}: {kind}{where}{one_line(e.problem or e.context)}") from None
    except yaml.reader.ReaderError as e:
        raise ConfigError(f"{source}: invalid YAML: character #x{e.character:x} at offset "
                          f"{e.position} is not allowed (a binary file?)") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: invalid YAML: {one_line(e)}") from None


def parse_override(item: str) -> tuple[str, Any]:
    """`training.epochs=3` -> ("training.epochs", 3); the value is parsed as YAML."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if len(item) > MAX_SET_LENGTH:
        raise ConfigError(f"--set {_shorten(key)}: longer than {MAX_SET_LENGTH} characters")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"--set {_shorten(item)}: expected dotted.key=value, e.g. training.epochs=3"
        )
    return key, parse_yaml(value, f"--set {_shorten(key)}")


def set_dotted(raw: dict, key: str, value: Any, source: str) -> None:
    """Set raw[a][b][c] = value for key 'a.b.c', creating sections as needed."""
    *parents, last = key.split(".")
    node = raw
    for i, part in enumerate(parents):
        if node.get(part) is None:  # absent, or a section left empty in the file
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {_shorten('.'.join(parents[: i + 1]))}: is not a section")
        node = child
    node[last] = value


def config_from_dict(raw: dict, source: str, overrides: typing.Sequence[str] = ()) -> Config:
    """Validate a plain mapping and build the Config; a ConfigError names the key and its origin:
    `source`, or `--set KEY` for the keys in `overrides` (and for what a section given so holds).
    The Config keeps that origin: checks made later (against the data, of the initial weights)
    name it too, through `Config.where`."""
    where = Blame(source, tuple(overrides))
    config = _build(Config, raw, where, prefix="")
    _resolve_and_check(config, where)
    config._blame = where  # not a field: never saved, compared or listed
    return config


@dataclass(frozen=True)
class Blame:
    """where(key) -> 'FILE: key', or '--set KEY' for a key given with --set (a class, not a
    closure, so that a Config carrying it can be pickled)."""

    source: str
    overrides: tuple[str, ...] = ()

    def __call__(self, key: str) -> str:
        for given in reversed(self.overrides):
            if key == given:
                return f"--set {_shorten(given)}"
            if key.startswith(given + ".") or given.startswith(key + "."):
                return f"--set {_shorten(given)}: {_shorten(key)}"
        return f"{self.source}: {_shorten(key)}"


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"training": {"learning_rate": 0.1}} -> {"training.learning_rate": 0.1}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + str(key)] = value
    return flat


def config_to_dict(config: Config) -> dict:
    """The resolved config as plain data (what is saved beside the results)."""
    return dataclasses.asdict(config)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _build(cls: type, raw: Any, where: Callable[[str], str], prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where(prefix.rstrip('.') or 'config')}: must be a mapping, got {_show(raw)}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in raw:
        if name not in fields:
            raise ConfigError(
                f"{where(prefix + str(name))}: unknown key{_unknown_key_hint(name, prefix)}"
            )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        key = prefix + name
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], raw[name], where, key + ".")
            continue
        value = _convert(raw[name], hints[name], where, key)
        check = f.metadata.get("check")
        problem = check(value) if value is not None and check is not None else None
        if problem:
            raise ConfigError(f"{where(key)}: {problem}")
        values[name] = value
    return cls(**values)


def _unknown_key_hint(name: Any, prefix: str) -> str:
    """Why a key is unknown: what nnctl does not do, or ' (did you mean ...?)' with an alias from
    other tools, a close spelling in the same section, or the same name in another section."""
    name = str(name)
    if name in UNSUPPORTED:
        return f": {UNSUPPORTED[name]}"
    keys = _dotted_keys(Config)
    here = [key[len(prefix):] for key in keys
            if key.startswith(prefix) and "." not in key[len(prefix):]]
    close = difflib.get_close_matches(name, here, n=1)
    elsewhere = [key for key in keys if key.rsplit(".", 1)[-1] == name]
    target = (ALIASES.get(name) or (prefix + close[0] if close else None)
              or next(iter(elsewhere), None))
    return f" (did you mean '{target}'?)" if target else ""


def _dotted_keys(cls: type, prefix: str = "") -> list[str]:
    """Every key of a config class, sections and values, dotted: 'model', 'model.hidden', ..."""
    keys = []
    for name, hint in typing.get_type_hints(cls).items():
        keys.append(prefix + name)
        if dataclasses.is_dataclass(hint):
            keys += _dotted_keys(hint, f"{prefix}{name}.")
    return keys


def _convert(value: Any, hint: Any, where: Callable[[str], str], key: str) -> Any:
    """Check `value` against a type hint (int, float, bool, str, list[int], Optional[...])."""
    args = typing.get_args(hint)
    if hint is float and isinstance(value, str):
        value = _yaml_1_2_float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        if value is None:
            return None
        return _convert(value, args[0], where, key)
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where(key)}: must be a list, got {_show(value)}")
        return [_convert(v, args[0], where, key) for v in value]
    checks = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }
    if hint not in checks:  # a programming error, not the user's: say what to add
        raise TypeError(f"config key {key}: type {hint!r} has no check in config._convert")
    ok = checks[hint]
    if not ok:
        kind = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
        raise ConfigError(f"{where(key)}: must be {kind[hint]}, got {_show(value)}")
    if hint is int and abs(value) > MAX_INT:
        raise ConfigError(f"{where(key)}: must be at most 2**63 - 1, got {_show(value)}")
    if hint is float:
        value = float(value)  # an int too large for a float becomes inf, refused below
        if not math.isfinite(value):
            raise ConfigError(f"{where(key)}: must be a finite number, got {_show(value)}")
    return value


def _yaml_1_2_float(text: str) -> Any:
    """'1e-3' -> 0.001; any other string is returned unchanged (and then refused as a string)."""
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", text.strip()):
        return float(text)
    return text


_REPR = reprlib.Repr()  # bounded: a huge or deeply nested value is never repr'd whole
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, 40, 40, 40


def _show(value: Any) -> str:
    """A value as the user wrote it, cut to about 40 characters."""
    return _shorten(_REPR.repr(value))


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- combinations


def _resolve_and_check(config: Config, where: Callable[[str], str]) -> None:
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
    if training.schedule == "exponential" and training.decay >= 1:
        raise ConfigError(f"{where('training.decay')}: the exponential schedule needs decay < 1")
    if training.stop.patience is not None and data.validation == 0:
        raise ConfigError(
            f"{where('training.stop.patience')}: needs a validation split (data.validation > 0)"
        )
    if data.limit is not None and data.validation >= data.limit:
        raise ConfigError(
            f"{where('data.validation')}: {data.validation} examples held out leaves none "
            f"of the {data.limit} (data.limit) to train on"
        )
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

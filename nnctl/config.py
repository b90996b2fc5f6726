"""YAML config -> validated dataclasses.

The config is the experiment: every key has a type, a default and a range, unknown keys are
errors (with a did-you-mean), and combinations that make no sense are refused before any work
starts. Choices are read from the tables of the modules that implement them.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nnctl.activations import ACTIVATIONS, OUTPUTS
from nnctl.engine import ENGINES
from nnctl.errors import ConfigError
from nnctl.losses import LOSSES, OUTPUT_DELTAS
from nnctl.network import INITIALIZERS
from nnctl.schedule import SCHEDULES

DTYPES = ("float32", "float64")
RULES = ("backprop", "perceptron", "delta")
# The single-layer rules train a linear unit on their own criterion with targets y = +-1.
RULE_LOSS = {"perceptron": "perceptron", "delta": "squared_error"}


def _positive(x: float) -> str | None:
    return None if x > 0 else "must be > 0"


def _non_negative(x: float) -> str | None:
    return None if x >= 0 else "must be >= 0"


def _sizes(xs: list[int]) -> str | None:
    return None if all(x > 0 for x in xs) else "every hidden layer size must be > 0"


def _choice(names: typing.Iterable[str]):
    names = tuple(names)

    def check(x: str) -> str | None:
        if x in names:
            return None
        close = difflib.get_close_matches(x, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown value '{x}'{hint}; choose from {', '.join(names)}"

    return check


def _key(default: Any = None, check=None, *, factory=None, help: str = "") -> Any:
    meta = {"check": check, "help": help}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class InitConfig:
    scheme: str = _key("lecun", _choice(INITIALIZERS), help="weight initialisation scheme")
    scale: float = _key(1.0, _non_negative, help="multiplies the scheme's spread")


@dataclass
class ModelConfig:
    hidden: list[int] = _key(check=_sizes, factory=list, help="hidden layer sizes; [] = single layer")
    activation: str = _key("sigmoid", _choice(ACTIVATIONS), help="hidden activation phi")
    output: str | None = _key(None, _choice(OUTPUTS), help="output function psi")
    init: InitConfig = _key(factory=InitConfig)


@dataclass
class StopConfig:
    no_mistakes: bool = _key(False, help="stop after an epoch with zero training mistakes")
    tolerance: float | None = _key(None, _positive, help="stop when |dJ|/J < tolerance")
    patience: int | None = _key(None, _positive, help="epochs without a better val acc")


@dataclass
class TrainingConfig:
    rule: str = _key("backprop", _choice(RULES))
    loss: str | None = _key(None, _choice(LOSSES))
    learning_rate: float = _key(0.1, _positive)
    schedule: str = _key("constant", _choice(SCHEDULES))
    decay: float = _key(0.0, _non_negative)
    epochs: int = _key(10, _non_negative)
    shuffle: bool = _key(True)
    seed: int = _key(0, _non_negative)
    dtype: str = _key("float32", _choice(DTYPES))
    engine: str = _key("auto", _choice(("auto", *ENGINES)), help="auto = fused")
    stop: StopConfig = _key(factory=StopConfig)


@dataclass
class DataConfig:
    dir: str | None = _key(None, help="directory with the four standard MNIST file names")
    train_images: str | None = _key(None)
    train_labels: str | None = _key(None)
    test_images: str | None = _key(None)
    test_labels: str | None = _key(None)
    validation: int = _key(5000, _non_negative, help="examples held out from the end of train")
    limit: int | None = _key(None, _positive, help="use only the first N training examples")


@dataclass
class Config:
    model: ModelConfig = _key(factory=ModelConfig)
    training: TrainingConfig = _key(factory=TrainingConfig)
    data: DataConfig = _key(factory=DataConfig)


# --------------------------------------------------------------------------- parsing


def load_config(path: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a YAML config file, apply `--set dotted.key=value` overrides, validate."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{source}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    raw = parse_yaml(text, source)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping with sections model, training, data")
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(raw, key, value, source="--set")
    return config_from_dict(raw, source)


def parse_yaml(text: str, source: str) -> Any:
    """YAML text -> Python value; syntax errors name the line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{source}: invalid YAML: {where}{e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: invalid YAML: {e}") from None


def parse_override(item: str) -> tuple[str, Any]:
    """`training.epochs=3` -> ("training.epochs", 3); the value is parsed as YAML."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item}: expected dotted.key=value, e.g. training.epochs=3")
    return key, parse_yaml(value, f"--set {key}")


def set_dotted(raw: dict, key: str, value: Any, source: str) -> None:
    """Set raw[a][b][c] = value for key 'a.b.c', creating sections as needed."""
    *parents, last = key.split(".")
    node = raw
    for i, part in enumerate(parents):
        if node.get(part) is None:  # absent, or a section left empty in the file
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {'.'.join(parents[: i + 1])}: is not a section")
        node = child
    node[last] = value


def config_from_dict(raw: dict, source: str) -> Config:
    """Validate a plain mapping and build the Config; raise ConfigError naming the key."""
    config = _build(Config, raw, source, prefix="")
    _resolve_and_check(config, source)
    return config


def config_to_dict(config: Config) -> dict:
    """The resolved config as plain data (what is saved beside the results)."""
    return dataclasses.asdict(config)


def dump_config(config: Config) -> str:
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "config"
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: must be a mapping, got {_show(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name in raw:
        if name not in fields:
            close = difflib.get_close_matches(str(name), fields, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"{source}: {prefix}{name}: unknown key{hint}")
    values = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], source, key + ".")
            continue
        value = _convert(raw[name], hint, source, key)
        check = f.metadata.get("check")
        if value is not None and check is not None:
            problem = check(value)
            if problem:
                raise ConfigError(f"{source}: {key}: {problem}, got {_show(raw[name])}")
        values[name] = value
    return cls(**values)


def _convert(value: Any, hint: Any, source: str, key: str) -> Any:
    """Check `value` against a type hint (int, float, bool, str, list[int], Optional[...])."""
    args = typing.get_args(hint)
    if hint is float and isinstance(value, str):
        value = _yaml_1_2_float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        if value is None:
            return None
        return _convert(value, args[0], source, key)
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: must be a list, got {_show(value)}")
        return [_convert(v, args[0], source, key) for v in value]
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[hint]
    if not ok:
        kind = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
        raise ConfigError(f"{source}: {key}: must be {kind[hint]}, got {_show(value)}")
    if hint is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{source}: {key}: must be a finite number, got {_show(value)}")
    return value


def _yaml_1_2_float(text: str) -> Any:
    """'1e-3' -> 0.001; any other string is returned unchanged (and then refused as a string)."""
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", text.strip()):
        return float(text)
    return text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _resolve_and_check(config: Config, source: str) -> None:
    """Fill rule-dependent defaults, then refuse combinations that make no sense."""
    model, training = config.model, config.training
    rule = training.rule
    if rule in RULE_LOSS:
        if model.hidden:
            raise ConfigError(
                f"{source}: model.hidden: the {rule} rule trains a single layer; "
                "set model.hidden: [] or training.rule: backprop"
            )
        if model.output not in (None, "identity"):
            raise ConfigError(
                f"{source}: model.output: the {rule} rule trains linear units (identity output), "
                f"not {model.output}"
            )
        if training.loss not in (None, RULE_LOSS[rule]):
            raise ConfigError(
                f"{source}: training.loss: the {rule} rule minimises {RULE_LOSS[rule]}, "
                f"not {training.loss}"
            )
        model.output = "identity"
        training.loss = RULE_LOSS[rule]
    else:
        model.output = model.output or "softmax"
        training.loss = training.loss or "cross_entropy"
        if training.loss == "perceptron":
            raise ConfigError(
                f"{source}: training.loss: the perceptron criterion goes with training.rule: perceptron"
            )
        if (training.loss, model.output) not in OUTPUT_DELTAS:
            raise ConfigError(
                f"{source}: training.loss: {training.loss} needs probabilities; "
                f"use model.output: softmax or sigmoid (got {model.output})"
            )
    if training.schedule == "exponential" and training.decay >= 1:
        raise ConfigError(f"{source}: training.decay: the exponential schedule needs decay < 1")
    stop = training.stop
    if stop.patience is not None and config.data.validation == 0:
        raise ConfigError(
            f"{source}: training.stop.patience: needs a validation split (data.validation > 0)"
        )
    if config.data.limit is not None and config.data.validation >= config.data.limit:
        raise ConfigError(
            f"{source}: data.validation: {config.data.validation} examples held out leaves none "
            f"of the {config.data.limit} (data.limit) to train on"
        )

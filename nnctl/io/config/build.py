"""A config from a YAML file or a plain mapping, and back: every value checked against its key's
type and check (schema), unknown keys refused with a did-you-mean, then the whole config checked
(checks); the resolved config as plain data and YAML (what is saved beside the results)."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from nnctl.errors import ConfigError
from nnctl.io.config.checks import Blame, resolve_and_check
from nnctl.io.config.overrides import parse_override, set_dotted
from nnctl.io.config.schema import Config
from nnctl.io.config.shown import shorten, show_value
from nnctl.io.config.suggestions import unknown_key_hint
from nnctl.io.config.yaml_reader import parse_yaml, read_config_text

MAX_INT = 2**63 - 1  # every whole number fits a 64-bit integer


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
        set_dotted(raw, key, value, source=f"--set {shorten(key)}")
        given.append(key)
    return config_from_dict(raw, source, given)


def config_from_dict(raw: dict, source: str, overrides: typing.Sequence[str] = ()) -> Config:
    """Validate a plain mapping and build the Config; a ConfigError names the key and its origin:
    `source`, or `--set KEY` for the keys in `overrides` (and for what a section given so holds).
    The Config keeps that origin: checks made later (against the data, of the initial weights)
    name it too, through `Config.where`."""
    where = Blame(source, tuple(overrides))
    config = _build(Config, raw, where, prefix="")
    resolve_and_check(config, where)
    config._blame = where  # not a field: never saved, compared or listed
    return config


def config_to_dict(config: Config) -> dict:
    """The resolved config as plain data (what is saved beside the results)."""
    return dataclasses.asdict(config)


def dump_config(config: Config) -> str:
    """The resolved config as YAML, its keys in the order of the schema."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)


def _build(cls: type, raw: Any, where: Callable[[str], str], prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where(prefix.rstrip('.') or 'config')}: must be a mapping, got {show_value(raw)}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in raw:
        if name not in fields:
            raise ConfigError(
                f"{where(prefix + str(name))}: unknown key{unknown_key_hint(name, prefix)}"
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


def _convert(value: Any, hint: Any, where: Callable[[str], str], key: str) -> Any:
    """Check `value` against a type hint (int, float, bool, str, list[int], Optional[...], and
    int | float: a whole number stays an int)."""
    args = typing.get_args(hint)
    if hint is float and isinstance(value, str):
        value = _yaml_1_2_float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None, int | float
        arms = [arm for arm in args if arm is not type(None)]
        if value is None and len(arms) < len(args):
            return None
        whole = isinstance(value, int) and not isinstance(value, bool)
        return _convert(value, int if whole and int in arms else arms[-1], where, key)
    if typing.get_origin(hint) is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where(key)}: must be a list, got {show_value(value)}")
        return [_convert(v, args[0], where, key) for v in value]
    checks = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }
    if hint not in checks:  # a programming error, not the user's: say what to add
        raise TypeError(f"config key {key}: type {hint!r} has no check in config.build._convert")
    ok = checks[hint]
    if not ok:
        kind = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
        raise ConfigError(f"{where(key)}: must be {kind[hint]}, got {show_value(value)}")
    if hint is int and abs(value) > MAX_INT:
        raise ConfigError(f"{where(key)}: must be at most 2**63 - 1, got {show_value(value)}")
    if hint is float:
        value = float(value)  # an int too large for a float becomes inf, refused below
        if not math.isfinite(value):
            raise ConfigError(f"{where(key)}: must be a finite number, got {show_value(value)}")
    return value


def _yaml_1_2_float(text: str) -> Any:
    """'1e-3' -> 0.001; any other string is returned unchanged (and then refused as a string)."""
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", text.strip()):
        return float(text)
    return text


"""`--set dotted.key=value` overrides and dotted keys: parsing one, setting it in a raw config
mapping, flattening a mapping to dotted keys."""

from __future__ import annotations

from typing import Any

from nnctl.errors import ConfigError
from nnctl.io.config.shown import shorten
from nnctl.io.config.yaml_reader import parse_yaml

MAX_SET_LENGTH = 4096


def parse_override(item: str) -> tuple[str, Any]:
    """`training.epochs=3` -> ("training.epochs", 3); the value is parsed as YAML."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if len(item) > MAX_SET_LENGTH:
        raise ConfigError(f"--set {shorten(key)}: longer than {MAX_SET_LENGTH} characters")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"--set {shorten(item)}: expected dotted.key=value, e.g. training.epochs=3"
        )
    return key, parse_yaml(value, f"--set {shorten(key)}")


def set_dotted(raw: dict, key: str, value: Any, source: str) -> None:
    """Set raw[a][b][c] = value for key 'a.b.c', creating sections as needed."""
    *parents, last = key.split(".")
    node = raw
    for i, part in enumerate(parents):
        if node.get(part) is None:  # absent, or a section left empty in the file
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {shorten('.'.join(parents[: i + 1]))}: is not a section")
        node = child
    node[last] = value


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"training": {"learning_rate": 0.1}} -> {"training.learning_rate": 0.1}."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + str(key)] = value
    return flat

"""Reading a config's YAML text, bounded for untrusted input: a regular file of at most 64 KiB,
UTF-8, parsed by a safe loader that refuses aliases, duplicate keys, deep nesting and huge
numbers; every error names the line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nnctl.errors import ConfigError, one_line
from nnctl.io.config.shown import show_value
from nnctl.io.inputs import open_regular

# Hostile input is bounded before it costs time or memory. A config is a few lines: 64 KiB keeps
# the pure-Python YAML parser well under a second; it needs 3 levels of nesting, no aliases.
MAX_CONFIG_BYTES = 64 * 1024
MAX_DEPTH = 20
MAX_DIGITS = 100  # below Python's 4300-digit limit on int(str)


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
                raise Refused(None, None, f"duplicate key {show_value(key)} (first on line "
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

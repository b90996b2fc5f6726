"""The README documents what the code has: every config key in its table, every command."""

from __future__ import annotations

import re
from pathlib import Path

from nnctl.cli import cli
from nnctl.config import describe_keys

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_in_the_readme_table():
    first_cells = re.findall(r"^\| (`[a-z_.]+`[^|]*)\|", README, re.MULTILINE)
    table = {key for cell in first_cells for key in re.findall(r"`([a-z_.]+)`", cell)
             if "." in key}
    keys = {entry["key"] for entry in describe_keys()}
    assert keys - table == set(), "config keys missing from the README's table"
    assert table - keys == set(), "README table rows that are not config keys"


def test_every_command_is_in_the_readme():
    commands = [name for name, command in cli.commands.items() if not command.hidden]
    for name in commands:
        assert f"nnctl {name}" in README, name

"""Config files written by tests, and the one-line error loading one gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nnctl.errors import ConfigError
from nnctl.io.config import load_config


def write(tmp_path: Path, text: str, name: str = "experiment.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path, overrides=()) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(path, list(overrides))
    assert e.value.exit_code == 2
    return str(e.value)

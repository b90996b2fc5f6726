"""--set overrides (nnctl.io.config.overrides, through load_config): values parsed as YAML,
sections created, the later override winning; bad syntax, keys and values named."""

from __future__ import annotations

import pytest
from configfiles import load_error, write

from nnctl.io.config import load_config

# --------------------------------------------------------------------------- --set overrides


def test_set_overrides(tmp_path):
    path = write(tmp_path, """\
        model:
          hidden: [300]
        training:
          epochs: 5
          learning_rate: 0.05
        """)
    config = load_config(path, ["training.epochs=3", "model.hidden=[100]"])
    assert config.training.epochs == 3
    assert config.model.hidden == [100]
    assert config.training.learning_rate == 0.05  # untouched keys keep the file's value


def test_set_values_are_yaml(tmp_path):
    path = write(tmp_path, "data: {limit: 500, validation: 100}\n")
    config = load_config(path, ["training.shuffle=false", "data.limit=null",
                                "model.hidden=[64, 32]", "training.learning_rate=0.5",
                                "model.init.scheme=he", "data.dir=some/dir"])
    assert config.training.shuffle is False
    assert config.data.limit is None
    assert config.model.hidden == [64, 32]
    assert config.training.learning_rate == 0.5
    assert config.model.init.scheme == "he"
    assert config.data.dir == "some/dir"


def test_set_later_override_wins_and_creates_sections(tmp_path):
    path = write(tmp_path, "")
    config = load_config(path, ["training.epochs=3", "training.stop.patience=2",
                                "training.epochs=4"])
    assert config.training.epochs == 4
    assert config.training.stop.patience == 2


def test_set_into_a_section_left_empty_in_the_file(tmp_path):
    """`training:` with nothing under it is a valid (empty) section; --set must be able to fill
    it."""
    path = write(tmp_path, "model:\n  hidden: [10]\ntraining:\n")
    config = load_config(path, ["training.epochs=3"])
    assert config.training.epochs == 3


def test_set_can_fix_an_invalid_file_value(tmp_path):
    path = write(tmp_path, "training: {learning_rate: 0}\n")
    assert load_config(path, ["training.learning_rate=0.2"]).training.learning_rate == 0.2


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "item",
    ["training.epochs3", "training.epochs", "=3", "training..epochs=3", ".epochs=3", "training.=3",
     ""],
)
def test_bad_set_syntax(tmp_path, item):
    message = load_error(write(tmp_path, ""), [item])
    assert "--set" in message
    assert item in message
    assert "=" in message


@pytest.mark.parametrize(
    "item, key, words",
    [
        ("training.epoch=3", "training.epoch", ["'training.epochs'"]),
        ("trainig.epochs=3", "trainig", ["'training'"]),
        ("model.init.sheme=he", "model.init.sheme", ["'model.init.scheme'"]),
        ("training.epochs=abc", "training.epochs", ["whole number"]),
        ("model.activation=sigmod", "model.activation", ["'sigmoid'"]),
        ("model.hidden=[0]", "model.hidden", ["> 0"]),
    ],
)
def test_set_of_bad_key_or_value(tmp_path, item, key, words):
    message = load_error(write(tmp_path, "model: {hidden: [10]}\n"), [item])
    assert key in message
    for word in words:
        assert word in message


def test_set_into_a_value_that_is_not_a_section(tmp_path):
    message = load_error(write(tmp_path, "training: {epochs: 3}\n"), ["training.epochs.x=1"])
    assert "training.epochs" in message


def test_set_with_invalid_yaml_value(tmp_path):
    message = load_error(write(tmp_path, ""), ["model.hidden=[1, 2"])
    assert "model.hidden" in message

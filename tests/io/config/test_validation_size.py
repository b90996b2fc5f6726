"""data.validation as a count or a fraction: shipped configs explored on a subset, the held-out
count on full MNIST unchanged, and the fix said where it still cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import assert_one_line_error

from nnctl.errors import ConfigError
from nnctl.io.config import config_from_dict, load_config
from nnctl.io.config.schema import held_out
from nnctl.io.examples import load_training_data

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml")) + sorted(CONFIGS.glob("classic/*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_shipped_configs_hold_out_5000_of_mnist_and_a_twelfth_of_a_limit(path):
    config = load_config(path)
    assert held_out(config.data.validation, 60_000) == 5000
    limited = load_config(path, ["data.limit=5000", "training.epochs=3"])
    assert held_out(limited.data.validation, 5000) == 417


def test_the_sweep_of_the_classic_search_holds_out_5000():
    base = yaml.safe_load((CONFIGS / "sweeps" / "mlp-300-classic.yaml").read_text())["base"]
    assert held_out(config_from_dict(base, "sweep").data.validation, 60_000) == 5000


def test_a_shipped_config_trains_on_a_subset(run, tmp_path):
    result = run("train", CONFIGS / "single-layer-perceptron.yaml", "--set", "data.limit=1200",
                 "--set", "training.epochs=1", "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert "1,100 train, 100 validation" in result.stderr  # 0.08333 x 1,200 = 99.996


@pytest.mark.parametrize("fraction, examples, count", [
    (0.1, 5000, 500), (0.5, 3, 2), (0.001, 10, 1), (0.08333, 60_000, 5000)])
def test_a_fraction_is_rounded_to_the_nearest_example_and_at_least_one(fraction, examples,
                                                                       count):
    assert held_out(fraction, examples) == count


def test_the_split_holds_out_the_fraction_from_the_end(tiny_dataset):
    config = config_from_dict({"data": {"dir": str(tiny_dataset()), "validation": 0.2}}, "test")
    splits = load_training_data(config.data, "float32")
    assert (len(splits.train), len(splits.validation)) == (240, 60)


def test_a_whole_number_stays_a_count():
    config = config_from_dict({"data": {"validation": 300}}, "test")
    assert config.data.validation == 300 and isinstance(config.data.validation, int)


@pytest.mark.parametrize("value", [1.0, 1.5, -0.1, 5000.0, "a tenth", None, True])
def test_neither_a_count_nor_a_fraction_is_refused(value):
    with pytest.raises(ConfigError, match="data.validation"):
        config_from_dict({"data": {"validation": value}}, "test")


def test_a_count_that_leaves_none_says_the_fix(run, write_config):
    path = write_config({"data": {"limit": 300, "validation": 300}})
    assert_one_line_error(run("train", path), 2, "data.validation", "300 (data.limit)",
                          "--set data.validation=0.1")


def test_a_fraction_that_leaves_none_says_the_fix(run, write_config):
    path = write_config({"data": {"limit": 1, "validation": 0.5}})
    assert_one_line_error(run("train", path), 2, "data.validation", "0.5 of them (1 examples)",
                          "--set data.validation=0")


def test_a_count_beyond_the_file_says_the_fix(run, write_config, tiny_dataset):
    path = write_config({"data": {"dir": str(tiny_dataset()), "limit": None,
                                  "validation": 300}})
    assert_one_line_error(run("train", path), 1, "data.validation", "none of the 300",
                          "--set data.validation=0.1")

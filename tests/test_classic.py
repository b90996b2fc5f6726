"""A quick smoke run of every classic config (configs/classic/): a few thousand examples, one epoch.

The full reproduction (`make reproduce`) is not part of the suite."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CLASSIC = sorted((Path(__file__).resolve().parent.parent / "configs" / "classic").glob("*.yaml"))



def reproduce_tool():
    spec = importlib.util.spec_from_file_location("reproduce", CLASSIC[0].parents[2] / "tools"
                                                  / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    return reproduce


def test_every_row_has_its_configs_and_every_config_a_row():
    reproduce = reproduce_tool()
    expected = {f"{stem}-{variant}" for stem, _network, _paper, group in reproduce.ROWS
                for variant in reproduce.VARIANTS_OF[group]}
    assert {p.stem for p in CLASSIC} == expected  # make reproduce trains every config


@pytest.mark.slow
@pytest.mark.parametrize("config", CLASSIC, ids=lambda p: p.stem)
def test_classic_config_smoke(run, tmp_path, config):
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet", "--set", "training.epochs=1",
                 "--set", "data.limit=3000", "--set", "data.validation=500")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1
    assert summary["test_accuracy"] > 0.6, summary  # chance is 0.1; one epoch on 2,500 examples


def test_a_row_without_runs_keeps_its_figures_from_the_table_before(tmp_path):
    """Run directories are not kept: adding one row must not drop the others' measured rows."""
    reproduce = reproduce_tool()
    _stem, network, _paper, group = reproduce.ROWS[0]
    variant = reproduce.VARIANTS_OF[group][0]
    before = tmp_path / "results.md"
    kept = f"| {network} | {variant}: backprop | 12.00% | 7.00% ± 0.10% | 3 | 1/2 | 2 s | `x` |"
    gone = "| a row no longer listed | best: x | 1.00% | 1.00% ± 0.00% | 3 | 1/1 | 1 s | `y` |"
    before.write_text("# table\n\n| network (paper) | our settings |\n|---|---|\n" + kept + "\n"
                      + gone + "\n")
    lines = reproduce.table(tmp_path / "no-runs", (0, 1, 2), reproduce.kept_rows(before))
    assert lines == [kept]


@pytest.mark.parametrize("average", [0.0, 0.9])
def test_the_settings_say_when_the_model_is_the_average_of_the_epochs_weights(tmp_path,
                                                                              average):
    import yaml

    config = {"model": {"hidden": [800], "activation": "relu", "output": "softmax",
                        "init": {"scheme": "he"}},
              "training": {"rule": "backprop", "loss": "cross_entropy", "learning_rate": 0.01,
                           "schedule": "inverse", "decay": 0.02, "epochs": 61,
                           "average": average},
              "data": {"validation": 5000, "limit": None}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    text = reproduce_tool().settings(tmp_path / "config.yaml")
    assert ("the epochs' weights averaged (beta 0.9)" in text) == (average > 0), text
    assert text.startswith("backprop, relu (he init)")


def nested_validation_tool():
    spec = importlib.util.spec_from_file_location(
        "nested_validation", CLASSIC[0].parents[2] / "tools" / "nested_validation.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_nested_validation_of_an_average_with_beta_zero_is_the_epochs_own(tmp_path):
    """beta = 0 makes the average the epoch's weights: the tool must give the same figures for
    both; nested accuracy never exceeds the best (it scores an epoch picked on other digits);
    and a run trained with averaging (its epochs' own weights gone) is refused."""
    from nnctl.io.config import config_from_dict
    from nnctl.tasks.train import train

    def config(average):
        return config_from_dict({"model": {"hidden": [6]},
                                 "training": {"epochs": 3, "keep": "all", "average": average},
                                 "data": {"limit": 700, "validation": 200}}, "test")

    train(config(0.0), tmp_path / "plain")
    figures = nested_validation_tool().scores(tmp_path / "plain", [0.0, 0.5])
    assert figures["average, beta 0"] == figures["epochs' weights"]
    for best, nested, test in figures.values():
        assert 0 < nested <= best <= 100 and 0 <= test <= 100
    train(config(0.5), tmp_path / "averaged")
    with pytest.raises(SystemExit, match="training.average"):
        nested_validation_tool().scores(tmp_path / "averaged", [0.5])

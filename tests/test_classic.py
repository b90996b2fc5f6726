"""A quick smoke run of every classic config (configs/classic/): a few thousand examples, one epoch.

The full reproduction (`make reproduce`) is not part of the suite."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CLASSIC = sorted((Path(__file__).resolve().parent.parent / "configs" / "classic").glob("*.yaml"))



def test_every_row_has_its_configs_and_every_config_a_row():
    spec = importlib.util.spec_from_file_location("reproduce", CLASSIC[0].parents[2] / "tools"
                                                  / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
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

"""A quick smoke run of every classic config (configs/classic/): a few thousand examples, one epoch.

The full reproduction (`make reproduce`) is not part of the suite."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

CLASSIC = sorted((Path(__file__).resolve().parent.parent / "configs" / "classic").glob("*.yaml"))
ROWS = {"linear", "mlp-300", "mlp-1000", "mlp-300-100", "mlp-500-150", "mlp-800",
        "linear-deskew", "mlp-300-deskew"}


def test_every_row_has_a_paper_and_a_best_config():
    spec = importlib.util.spec_from_file_location("reproduce", CLASSIC[0].parents[2] / "tools"
                                                  / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    names = {p.stem for p in CLASSIC}
    assert names == {f"{row}-{variant}" for row in ROWS for variant in ("paper", "best")}
    assert {row[0] for row in reproduce.ROWS} == ROWS  # make reproduce trains every row


@pytest.mark.parametrize("config", CLASSIC, ids=lambda p: p.stem)
def test_classic_config_smoke(run, tmp_path, config):
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet", "--set", "training.epochs=1",
                 "--set", "data.limit=3000", "--set", "data.validation=500")
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1
    assert summary["test_accuracy"] > 0.6, summary  # chance is 0.1; one epoch on 2,500 examples

"""`nnctl runs` after a resume that changed when to stop: it shows the config the run continues
with (config.yaml's training.epochs and stop keys), as config.yaml and summary.json do."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import sigterm_after_chunks

from nnctl.io.run_info import read_run


@pytest.fixture
def resumed(run, write_config, tiny_dataset, monkeypatch, tmp_path):
    """A run of 20 epochs interrupted after epoch 2, resumed with --set training.epochs=2 (so it
    finishes at once, without writing a checkpoint)."""
    path = write_config({"data": {"dir": str(tiny_dataset()), "limit": None, "validation": 50},
                         "training": {"epochs": 20, "engine": "reference"}})
    out = tmp_path / "run"
    sigterm_after_chunks(monkeypatch, 2)  # 250 examples: one chunk per epoch
    assert run("train", path, "--out", out, "--quiet").exit_code == 143
    monkeypatch.undo()
    result = run("train", "--resume", out, "--set", "training.epochs=2", "--quiet")
    assert result.exit_code == 0, result.stderr
    return out


def test_the_resumed_run_and_its_files_agree(resumed):
    assert yaml.safe_load((resumed / "config.yaml").read_text())["training"]["epochs"] == 2
    assert json.loads((resumed / "summary.json").read_text())["status"] == "finished"
    info = read_run(resumed)
    assert (info.status, info.epochs, info.config["training.epochs"]) == ("finished", 2, 2)


def test_runs_shows_the_epochs_the_run_was_resumed_with(run, resumed):
    rows = [json.loads(line) for line in run("runs", resumed, "--json").stdout.splitlines()]
    assert rows[0]["training.epochs"] == 2
    table = run("runs", resumed).stdout
    assert "2/20" not in table and "finished" in table


def test_a_stop_key_changed_on_a_complete_run_is_shown_too(run, resumed):
    result = run("train", "--resume", resumed, "--set", "training.stop.patience=5", "--quiet")
    assert result.exit_code == 0, result.stderr  # nothing to train: no checkpoint written
    info = read_run(resumed)
    assert (info.config["training.epochs"], info.config["training.stop.patience"]) == (2, 5)

"""`nnctl runs`: the status of running, interrupted, killed, diverged, stopped and finished runs,
the keys that differ between runs, sorting, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from nnctl.io.run_info import differing_keys, find_runs, labels, read_run


def nnctl(*args) -> list[str]:
    return [sys.executable, "-m", "nnctl", *map(str, args)]


@pytest.fixture
def zoo(tmp_path, run, write_config):
    """A directory of runs in every state but running, made by real training."""
    runs = tmp_path / "runs"
    base = {"model": {"hidden": [8]}, "training": {"epochs": 2}}
    for name, config in {
        "finished": base,
        "faster": {**base, "training": {"epochs": 2, "learning_rate": 0.3}},
        "stopped": {"model": {"hidden": [8]},
                    "training": {"epochs": 30, "learning_rate": 2.0, "stop": {"patience": 1}}},
        "diverged": {"model": {"hidden": [8], "activation": "relu"},
                     "training": {"learning_rate": 1e20}},
    }.items():
        result = run("train", write_config(config, f"{name}.yaml"), "--out", runs / name, "--quiet")
        assert result.exit_code in (0, 3), result.stderr
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump({"model": {"hidden": [32]},
                                    "training": {"epochs": 500, "engine": "reference"},
                                    "data": {"limit": 6000, "validation": 500}}))
    for name, signum in (("interrupted", signal.SIGINT), ("killed", signal.SIGKILL)):
        child = subprocess.Popen(nnctl("train", slow, "--out", runs / name, "--quiet"),
                                 cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        while not (runs / name / "checkpoints" / "last.npz").exists():
            assert child.poll() is None, child.communicate()[1]
            time.sleep(0.05)
        child.send_signal(signum)
        child.communicate(timeout=60)
    return runs


@pytest.mark.slow
def test_status_of_every_kind_of_run(zoo):
    statuses = {path.name: read_run(path).status for path in find_runs([zoo])}
    assert statuses == {"diverged": "diverged", "faster": "finished", "finished": "finished",
                        "interrupted": "interrupted", "killed": "killed", "stopped": "stopped"}


@pytest.mark.slow
def test_a_run_being_trained_is_running(tmp_path):
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump({"model": {"hidden": [32]},
                                    "training": {"epochs": 500, "engine": "reference"},
                                    "data": {"limit": 6000, "validation": 500}}))
    out = tmp_path / "run"
    child = subprocess.Popen(nnctl("train", slow, "--out", out, "--quiet"), cwd=tmp_path,
                             stderr=subprocess.DEVNULL)
    try:
        while not (out / "checkpoints" / "last.npz").exists():
            assert child.poll() is None
            time.sleep(0.05)
        listed = subprocess.run(nnctl("runs", out, "--json"), capture_output=True, text=True,
                                check=True)
        assert json.loads(listed.stdout)["status"] == "running"
    finally:
        child.kill()
        child.wait()


@pytest.mark.slow
def test_differing_keys_and_labels(zoo):
    pair = [read_run(zoo / "finished"), read_run(zoo / "faster")]
    assert differing_keys(pair) == ["training.learning_rate"]
    assert labels(pair) == ["lr=0.1", "lr=0.3"]
    same = [read_run(zoo / "finished"), read_run(zoo / "finished")]
    assert differing_keys(same) == [] and labels(same) == ["finished", "finished"]


@pytest.mark.slow
def test_cli_table_json_csv_and_sort(run, zoo):
    table = run("runs", zoo)
    assert table.exit_code == 0, table.stderr
    for name in ("finished", "faster", "stopped", "diverged", "interrupted", "killed"):
        assert name in table.stdout
    rows = [json.loads(line) for line in run("runs", zoo, "--json", "--sort",
                                              "val_accuracy").stdout.splitlines()]
    accuracies = [row["best_val_accuracy"] for row in rows if row["best_val_accuracy"] is not None]
    assert accuracies == sorted(accuracies, reverse=True) and len(rows) == 6
    assert {"training.learning_rate", "model.activation"} <= set(rows[0])
    table = list(csv.DictReader(io.StringIO(run("runs", zoo, "--csv").stdout)))
    assert [row["run"].rsplit("/", 1)[-1] for row in table] == [
        "diverged", "faster", "finished", "interrupted", "killed", "stopped"]
    finished = next(row for row in table if row["run"].endswith("/finished"))
    assert finished["status"] == "finished" and float(finished["test_accuracy"]) > 0.5


def test_not_a_directory_is_one_line(run, tmp_path):
    result = run("runs", tmp_path / "missing")
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")

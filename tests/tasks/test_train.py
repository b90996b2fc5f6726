"""The epoch loop: stop conditions, schedules, best/last checkpoints, metrics (library API)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from nnctl.core.schedules import SCHEDULES, learning_rate
from nnctl.io.checkpoint import load_checkpoint, load_snapshot
from nnctl.io.config import config_from_dict, load_config
from nnctl.tasks.train import train


def make_config(data_dir, **training):
    stop = training.pop("stop", {})
    model = training.pop("model", {"hidden": []})
    return config_from_dict(
        {"model": model, "training": {"epochs": 20, **training, "stop": stop},
         "data": {"dir": str(data_dir), "validation": 50}},
        "test",
    )


def test_perceptron_stops_at_an_epoch_without_mistakes(tiny_dataset, tmp_path):
    data = tiny_dataset(shape=(6, 6), classes=2)  # one block of bright pixels per class: separable
    config = make_config(data, rule="perceptron", learning_rate=1.0, stop={"no_mistakes": True})
    result = train(config, tmp_path / "run")
    assert result.stop_reason.startswith("no training mistakes")
    assert result.history[-1]["train_mistakes"] == 0
    assert result.history[-1]["updates"] == 0  # no update at all in the last epoch
    assert result.epochs < 20
    assert all(r["train_mistakes"] > 0 for r in result.history[:-1])


def test_tolerance_stops_when_J_has_converged(tiny_dataset, tmp_path):
    data = tiny_dataset()
    config = make_config(data, rule="delta", learning_rate=0.001, stop={"tolerance": 0.05})
    result = train(config, tmp_path / "run")
    assert result.stop_reason.startswith("J converged")
    losses = [r["train_loss"] for r in result.history]
    assert abs(losses[-1] - losses[-2]) / losses[-2] < 0.05
    assert all(abs(b - a) / a >= 0.05 for a, b in itertools.pairwise(losses[:-1]))


def test_patience_stops_and_best_is_the_best_epoch(tiny_dataset, tmp_path):
    data = tiny_dataset()
    # a learning rate this small cannot change any prediction: no epoch beats the initial weights
    config = make_config(data, learning_rate=1e-12, stop={"patience": 2},
                         model={"hidden": [4], "init": {"scheme": "normal", "scale": 0.5}})
    result = train(config, tmp_path / "run")
    assert result.epochs == 2 and result.best_epoch == 0
    assert "validation accuracy" in result.stop_reason
    _, best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.npz")
    assert best["epoch"] == 0


def test_best_checkpoint_has_the_highest_validation_accuracy(tiny_dataset, tmp_path):
    config = make_config(tiny_dataset(), learning_rate=0.5, epochs=5, model={"hidden": [6]})
    result = train(config, tmp_path / "run")
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    best = max(lines, key=lambda r: r["val_accuracy"])  # first of the ties, as in train
    assert result.best_epoch == best["epoch"]
    _, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.npz")
    assert meta["metrics"]["val_accuracy"] == best["val_accuracy"]
    assert (json.loads((tmp_path / "run" / "summary.json").read_text())["best_epoch"]
            == best["epoch"])


def test_without_validation_best_is_last(tiny_dataset, tmp_path):
    config = config_from_dict({"model": {"hidden": []}, "training": {"epochs": 2},
                               "data": {"dir": str(tiny_dataset()), "validation": 0}}, "test")
    train(config, tmp_path / "run")
    _, best = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.npz")
    assert best["epoch"] == 2


# Each schedule's rate for epochs 1..5 with eta 0.1 and decay 0.5, worked out by hand from its
# formula (t = epoch - 1 epochs done): constant eta; inverse eta / (1 + decay t); exponential
# eta (1 - decay)^t.
SCHEDULE_RATES = {
    "constant": [0.1, 0.1, 0.1, 0.1, 0.1],
    "inverse": [0.1, 0.1 / 1.5, 0.05, 0.04, 0.1 / 3],
    "exponential": [0.1, 0.05, 0.025, 0.0125, 0.00625],
}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_schedules_follow_their_formula(schedule):
    assert set(SCHEDULES) == set(SCHEDULE_RATES)
    rates = [learning_rate(schedule, 0.1, 0.5, epoch) for epoch in range(1, 6)]
    assert rates == pytest.approx(SCHEDULE_RATES[schedule], rel=1e-12)
    assert learning_rate(schedule, 0.1, 0.0, 9) == pytest.approx(0.1, rel=1e-12)  # no decay


def test_metrics_record_the_scheduled_rate(tiny_dataset, tmp_path):
    config = make_config(tiny_dataset(), learning_rate=0.2, schedule="inverse", decay=1.0, epochs=3)
    result = train(config, tmp_path / "run")
    assert [r["learning_rate"] for r in result.history] == pytest.approx([0.2, 0.1, 0.2 / 3])


def test_float64_training(tiny_dataset, tmp_path):
    config = make_config(tiny_dataset(), dtype="float64", epochs=1, model={"hidden": [5]})
    train(config, tmp_path / "run")
    network, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.npz")
    assert all(W.dtype == np.float64 for W in network.weights)


@pytest.mark.slow
def test_keep_best_last_keeps_two_checkpoints_and_first_layer_snapshots(tmp_path, write_config,
                                                                        run):
    config = load_config(write_config({"model": {"hidden": [120]},
                                       "training": {"epochs": 3, "keep": "best-last"}}))
    result = train(config, tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["best.npz", "last.npz", "layer1-000.npy", "layer1-001.npy", "layer1-002.npy",
                     "layer1-003.npy"]
    last, _meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.npz")
    snapshot = load_snapshot(tmp_path / "run" / "checkpoints" / "layer1-003.npy", 784)
    np.testing.assert_array_equal(snapshot, last.weights[0][:100])  # 100 of the 120 units
    assert result.epochs == 3
    all_kept = train(load_config(write_config({"model": {"hidden": [120]},
                                               "training": {"epochs": 3}})), tmp_path / "all")
    assert all_kept.test == result.test  # what is kept changes nothing that is computed
    montage = run("inspect-weights", tmp_path / "run", "--out", tmp_path / "figures")
    assert montage.exit_code == 0, montage.stderr
    assert (tmp_path / "figures" / "weights-by-epoch.png").exists()


@pytest.mark.slow
def test_deskew_is_recorded_and_the_final_test_uses_it(tmp_path, write_config, run):
    config = load_config(write_config({"model": {"hidden": []},
                                       "training": {"epochs": 1}, "data": {"deskew": True}}))
    result = train(config, tmp_path / "run")
    _network, meta = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.npz")
    assert meta["preprocessing"]["deskew"] is True
    evaluated = run("evaluate", tmp_path / "run", "--json")
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(result.test["accuracy"])
    resumed_otherwise = run("train", "--resume", tmp_path / "run", "--set", "training.epochs=2",
                            "--quiet")
    assert resumed_otherwise.exit_code == 0  # the same preprocessing: resumes

"""Sweep files: validation before anything runs, expansion into trials, ranking of results.
No Ray here (tests/test_sweep_ray.py runs sweeps on a real Ray)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import assert_one_line_error

from nnctl.errors import ConfigError
from nnctl.io.config import config_to_dict, flatten
from nnctl.sweep.results import point_results, result_rows
from nnctl.sweep.runner import stages
from nnctl.sweep.spec import load_sweep, sweep_from_dict
from nnctl.sweep.state import check_shared, lock_sweep, new_sweep_dir

BASE = {"model": {"hidden": [8]}, "training": {"epochs": 2},
        "data": {"limit": 300, "validation": 100}}


@pytest.fixture
def write_sweep(tmp_path):
    def write(spec: dict, name: str = "sweep.yaml"):
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"base": BASE, **spec}, sort_keys=False))
        return path

    return write


def test_a_grid_expands_to_every_point_once_per_seed(write_sweep):
    sweep = load_sweep(write_sweep({
        "parameters": {"training.learning_rate": {"values": [0.01, 0.1]},
                       "model.hidden": {"values": [[4], [8, 4]]}},
        "seeds": [3, 5]}))
    assert sweep.points == 4 and len(sweep.trials) == 8
    assert [t.id for t in sweep.trials[:3]] == ["p000-s3", "p000-s5", "p001-s3"]
    configs = [sweep.config(t) for t in sweep.trials]
    assert [c.training.seed for c in configs[:2]] == [3, 5]
    assert {(c.training.learning_rate, tuple(c.model.hidden)) for c in configs} == {
        (0.01, (4,)), (0.01, (8, 4)), (0.1, (4,)), (0.1, (8, 4))}
    assert all(c.training.epochs == 2 and c.data.limit == 300 for c in configs)  # from the base
    assert sweep.point_name(1).endswith("point 1 (lr=0.01 hidden=[8,4])")


def test_random_draws_within_the_distributions_and_again_the_same(write_sweep):
    spec = {"method": "random", "samples": 40, "sample_seed": 7, "seeds": [0],
            "parameters": {"training.learning_rate": {"distribution": "loguniform",
                                                      "min": "1e-3", "max": 0.1},
                           "training.decay": {"distribution": "uniform", "min": 0, "max": 0.5},
                           "training.epochs": {"distribution": "int", "min": 1, "max": 3},
                           "model.activation": {"values": ["relu", "tanh"]}}}
    sweep = load_sweep(write_sweep(spec))
    values = [t.values for t in sweep.trials]
    assert len(values) == 40
    assert all(0.001 <= v["training.learning_rate"] <= 0.1 for v in values)
    assert all(0 <= v["training.decay"] <= 0.5 for v in values)
    assert {v["training.epochs"] for v in values} == {1, 2, 3}
    assert {v["model.activation"] for v in values} == {"relu", "tanh"}
    small = sum(v["training.learning_rate"] < 0.01 for v in values)  # log scale: about half
    assert 10 <= small <= 30
    assert [t.values for t in load_sweep(write_sweep(spec)).trials] == values
    assert [t.values for t in load_sweep(write_sweep({**spec, "sample_seed": 8})).trials] != values


def test_a_sweep_survives_its_round_trip_through_sweep_json(write_sweep):
    sweep = load_sweep(write_sweep({"parameters": {"training.learning_rate": {"values": [0.1]}},
                                    "early_stop": True}))
    again = sweep_from_dict(json.loads(json.dumps(sweep.as_dict())))
    assert again.as_dict() == sweep.as_dict()
    assert again.early_stop == {"min_epochs": 1, "reduction_factor": 3}
    assert again.seeds == [0, 1, 2]  # the default


def test_the_base_is_a_file_relative_to_the_sweep_file_with_data_paths_made_absolute(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump(
        {"training": {"epochs": 1}, "data": {"dir": "some/data", "validation": 10}}))
    path = tmp_path / "configs" / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "seeds": [0]}))
    sweep = load_sweep(path)
    config = sweep.config(sweep.trials[0])
    assert config.training.epochs == 1
    assert config.data.dir.startswith("/") and config.data.dir.endswith("some/data")


@pytest.mark.parametrize(("spec", "words"), [
    ({"paramters": {}}, ["paramters", "did you mean 'parameters'"]),
    ({"parameters": {"training.learning_rat": {"values": [0.1]}}},
     ["training.learning_rat", "not a config key", "training.learning_rate"]),
    ({"parameters": {"training": {"values": [1]}}}, ["training", "not a config key"]),
    ({"parameters": {"training.seed": {"values": [1]}}}, ["seeds: [...]"]),
    ({"parameters": {"training.learning_rate": {"values": []}}}, ["a list of 1 to"]),
    ({"parameters": {"training.learning_rate": [0.1, 0.2]}}, ["give values"]),
    ({"parameters": {"training.learning_rate": {"values": [0.1, 0.1]}}}, ["listed twice"]),
    ({"parameters": {"training.learning_rate": {"distribution": "uniform", "min": 0.1,
                                                "max": 0.2}}}, ["needs method: random"]),
    ({"method": "random", "samples": 2, "parameters": {"training.learning_rate": {
        "distribution": "uniform", "min": 0.2, "max": 0.1}}}, ["min must be below max"]),
    ({"method": "random", "samples": 2, "parameters": {"training.learning_rate": {
        "distribution": "loguniform", "min": 0, "max": 0.1}}}, ["min > 0"]),
    ({"method": "random", "samples": 2, "parameters": {"training.epochs": {
        "distribution": "int", "min": 1.5, "max": 3}}}, ["whole numbers"]),
    ({"method": "random", "samples": 2, "parameters": {"training.learning_rate": {
        "distribution": "normal", "min": 0, "max": 1}}}, ["normal", "choose from"]),
    ({"method": "random"}, ["samples: method: random needs samples"]),
    ({"samples": 3}, ["only with method: random"]),
    ({"method": "bayes"}, ["method", "choose from grid, random"]),
    ({"seeds": [0, 0]}, ["listed twice"]),
    ({"seeds": [-1]}, ["seeds", "whole number"]),
    ({"seeds": "0"}, ["seeds", "a list"]),
    ({"metric": "test_accuracy"}, ["test figure", "never on the test set"]),
    ({"metric": "val_acc"}, ["val_acc", "did you mean 'val_accuracy'"]),
    ({"early_stop": {"reduction_factor": 1}}, ["reduction_factor", "from 2"]),
    ({"early_stop": {"grace": 1}}, ["grace", "unknown key"]),
    ({"base": 3}, ["base", "a config file name or an inline config"]),
    ({"base": "missing.yaml"}, ["missing.yaml", "no such file"]),
    ({"base": {"training": {"learning_rate": -1}}}, ["base", "training.learning_rate", "> 0"]),
    ({"parameters": {"training.learning_rate": {"values": list(range(1, 101))},
                     "training.decay": {"values": list(range(101))}}},
     ["10,100 points", "more than 10,000 trials"]),
])
def test_every_key_is_checked_with_a_one_line_config_error(write_sweep, run, spec, words):
    path = write_sweep(spec)
    with pytest.raises(ConfigError) as error:
        load_sweep(path)
    for word in words:
        assert word in str(error.value), (word, str(error.value))
    assert "\n" not in str(error.value)
    assert_one_line_error(run("sweep", path), 2, *words)


def test_an_invalid_point_is_a_config_error_naming_the_point(write_sweep, run, tmp_path):
    path = write_sweep({"parameters": {"training.learning_rate": {"values": [0.1, -0.5]},
                                       "model.activation": {"values": ["relu"]}}})
    assert_one_line_error(run("sweep", path, "--out", tmp_path / "out"), 2,
                          "point 1 (lr=-0.5 act=relu)", "training.learning_rate", "must be > 0")
    assert not (tmp_path / "out").exists()  # nothing written
    path = write_sweep({"parameters": {"data.validation": {"values": [100, 0]}}})
    assert_one_line_error(run("sweep", path), 2, "point 1 (validation=0)",
                          "needs a validation split")


def test_the_sweep_file_is_bounded_and_read_safely(write_sweep, run, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("seeds: [" + "0, " * 40_000 + "0]\n")
    assert_one_line_error(run("sweep", big), 2, "more than the 65,536")
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("base: &a {training: {epochs: 1}}\nparameters: *a\n")
    assert_one_line_error(run("sweep", aliases), 2, "aliases")
    assert_one_line_error(run("sweep", tmp_path / "none.yaml"), 2, "no such file")


def test_without_ray_installed_the_command_says_how_to_install_it(write_sweep, run, monkeypatch,
                                                                  tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` then raises ImportError
    path = write_sweep({})
    assert_one_line_error(run("sweep", path, "--out", tmp_path / "out"), 1,
                          "needs Ray", "pip install -e '.[sweep]'")
    assert not (tmp_path / "out").exists()


def test_usage_errors(run, tmp_path):
    result = run("sweep")
    assert result.exit_code == 2 and "give a SWEEP.yaml" in result.stderr
    result = run("sweep", "--resume", tmp_path, "--out", tmp_path / "x")
    assert result.exit_code == 2 and "takes no --out" in result.stderr


@pytest.mark.slow
def test_the_stages_are_the_rungs_of_tunes_asha_scheduler():
    schedulers = pytest.importorskip("ray.tune.schedulers", reason="pip install -e '.[sweep]'")
    ASHAScheduler = schedulers.ASHAScheduler

    assert stages(10, None) == [10]
    for epochs, grace, eta in ((9, 1, 3), (10, 1, 3), (30, 2, 2), (5, 5, 3), (100, 1, 4)):
        scheduler = ASHAScheduler(time_attr="epoch", metric="m", mode="max", max_t=epochs,
                                  grace_period=grace, reduction_factor=eta)
        rungs = sorted(m for m, _ in scheduler._brackets[0]._rungs if m < epochs)
        assert stages(epochs, {"min_epochs": grace, "reduction_factor": eta}) == [*rungs, epochs]


def test_points_are_ranked_by_their_mean_and_incomplete_ones_listed_last(write_sweep):
    sweep = load_sweep(write_sweep({"parameters": {"training.learning_rate": {
        "values": [0.01, 0.1, 1.0, 10.0]}}, "seeds": [0, 1]}))
    accuracies = {"p000": (0.80, 0.90), "p001": (0.95, 0.93), "p002": (0.99, None),
                  "p003": (0.50, 0.70)}
    outcomes = {}
    for trial in sweep.trials:
        value = accuracies[trial.id[:4]][sweep.seeds.index(trial.seed)]
        outcomes[trial.id] = {"status": "finished" if value else "diverged",
                              "val_accuracy": value, "epochs": 2, "seconds": 1.0,
                              "test_accuracy": 0.5}
    outcomes["p003-s1"]["status"] = "early-stopped"
    results = point_results(sweep, outcomes)
    assert [r.point for r in results] == [1, 0, 3, 2]
    assert results[0].mean == pytest.approx(0.94) and results[0].sd == pytest.approx(0.01414, 1e-3)
    assert not results[-1].ranked
    rows = result_rows(sweep, results)
    assert [row["rank"] for row in rows] == [1, 2, 3, None]
    assert rows[2]["early_stopped"] == 1 and rows[3]["diverged"] == 1
    assert "test_accuracy" not in json.dumps(rows)  # results rank on validation only
    del outcomes["p000-s1"]  # a point not done yet is not in the results
    assert [r.point for r in point_results(sweep, outcomes)] == [1, 3, 2]


def test_the_sweep_directory_is_ours_alone(tmp_path):
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="not empty"):
        new_sweep_dir(tmp_path / "theirs", "x")
    directory = new_sweep_dir(tmp_path / "sweep", "x")
    with lock_sweep(directory, "token-1"):
        check_shared(str(directory), "token-1")
        with (pytest.raises(Exception, match="another nnctl sweep is running it"),
              lock_sweep(directory, "token-1")):
            pass
        with pytest.raises(Exception, match="file system every Ray node shares"):
            check_shared(str(directory), "token-2")  # another sweep's directory at this path
    with pytest.raises(Exception, match="file system every Ray node shares"):
        check_shared(str(tmp_path / "elsewhere"), "token-1")  # not there at all


def test_a_damaged_or_hostile_sweep_directory_is_refused_in_one_line(write_sweep, run, tmp_path):
    from nnctl.sweep.state import SWEEP_MARKER, new_token
    from nnctl.sweep.state import write_sweep as store

    assert_one_line_error(run("sweep", "--resume", tmp_path / "none"), 1, "no such sweep")
    assert_one_line_error(run("sweep", "--resume", tmp_path), 1, "not a sweep directory")
    directory = new_sweep_dir(tmp_path / "sweep", "x")
    (directory / SWEEP_MARKER).write_text("{}")
    store(directory, load_sweep(write_sweep({})), new_token())
    stored = json.loads((directory / "sweep.json").read_text())
    data = json.loads(json.dumps(stored))
    data["trials"][0]["id"] = "../../escape"  # a trial id names a directory under trials/
    (directory / "sweep.json").write_text(json.dumps(data))
    assert_one_line_error(run("sweep", "--resume", directory), 1, "not a sweep file of nnctl")
    for damage in ({"seeds": []}, {"seeds": [0, 0, 0]}, {"point": 99}, {"seed": 7}):
        data = json.loads(json.dumps(stored))
        if "point" in damage or "seed" in damage:
            data["trials"][-1].update(damage)  # a trial that is not where load_sweep put it
        else:
            data.update(damage)
        (directory / "sweep.json").write_text(json.dumps(data))
        assert_one_line_error(run("sweep", "--resume", directory), 1, "not a sweep file of nnctl")
    (directory / "sweep.json").write_text("{")
    assert_one_line_error(run("sweep", "--resume", directory), 1, "not a sweep file of nnctl")


def test_asha_reports_are_replayed_on_resume(write_sweep, tmp_path):
    pytest.importorskip("ray.tune.schedulers", reason="pip install -e '.[sweep]'")
    from nnctl.sweep.runner import Runner
    from nnctl.sweep.state import append_outcome

    sweep = load_sweep(write_sweep({
        "parameters": {"training.learning_rate": {"values": [0.01, 0.02, 0.05, 0.1, 0.2]}},
        "seeds": [0], "early_stop": {"min_epochs": 1, "reduction_factor": 2}}))
    fresh = Runner(tmp_path, sweep, "token", [])
    assert not fresh._decide("p004-s0", 1, 0.5)  # nothing recorded at the rung: it goes on
    directory = tmp_path / "resumed"
    directory.mkdir()
    for trial, value in (("p000-s0", 0.9), ("p001-s0", 0.8), ("p002-s0", 0.1)):
        append_outcome(directory, {"trial": trial, "rung": 1, "value": value})
    append_outcome(directory, {"trial": "p002-s0", "outcome": {"status": "early-stopped"}})
    resumed = Runner(directory, sweep, "token", [])
    assert resumed.passed == {"p000-s0": 1, "p001-s0": 1, "p002-s0": 1}
    assert [t.id for t in resumed.todo] == ["p000-s0", "p001-s0", "p003-s0", "p004-s0"]
    assert resumed._decide("p004-s0", 1, 0.5)  # below the median of 0.9, 0.8, 0.1: stopped
    assert not resumed._decide("p003-s0", 1, 0.85)


def test_a_damaged_outcomes_file_is_refused_in_one_line(write_sweep, run, tmp_path):
    from nnctl.sweep.state import SWEEP_MARKER, new_token
    from nnctl.sweep.state import write_sweep as store

    directory = new_sweep_dir(tmp_path / "sweep", "x")
    (directory / SWEEP_MARKER).write_text("{}")
    store(directory, load_sweep(write_sweep({})), new_token())
    for line in ('{"trial": "p000-s0", "outcome": 5}', '{"trial": "p000-s0", "rung": "1"}',
                 '{"trial": 3}', "[]", '{"trial": "p000-s0", "outcome": {"status": "won"}}'):
        (directory / "outcomes.jsonl").write_text(line + "\n")
        assert_one_line_error(run("sweep", "--resume", directory), 1,
                              "outcomes.jsonl: line 1: not an outcome record")


SHIPPED = sorted((Path(__file__).resolve().parents[2] / "configs" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_sweep_file_is_valid_and_its_trials_train_their_points(path):
    assert SHIPPED  # an empty glob would test nothing
    sweep = load_sweep(path)
    for trial in sweep.trials:  # each trial's config is the base with its point's values
        config = flatten(config_to_dict(sweep.config(trial)))
        assert {key: config[key] for key in trial.values} == trial.values
        assert config["training.seed"] == trial.seed

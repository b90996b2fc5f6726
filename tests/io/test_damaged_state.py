"""Saved state read back (issue 19, part 3): a sweep without a result fails; a checkpoint's
`progress` is checked like a config wherever it is read (train --resume, runs, evaluate); one
damaged run does not break `nnctl runs`; a resumed sweep's sweep.json goes through the sweep
file's own validator, before Ray starts."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import assert_one_line_error, snapshot

from nnctl.errors import NnctlError
from nnctl.io.checkpoint import load_checkpoint, save_checkpoint
from nnctl.io.config import config_from_dict
from nnctl.sweep.results import best_line, point_results
from nnctl.sweep.spec import load_sweep
from nnctl.sweep.state import SWEEP_MARKER, new_sweep_dir, new_token, read_sweep
from nnctl.sweep.state import write_sweep as store_sweep
from nnctl.tasks.train import train

TINY = {"model": {"hidden": [8]}, "training": {"epochs": 1, "engine": "reference"},
        "data": {"limit": 600, "validation": 100}}
EXAMPLES = 500  # in an epoch of TINY


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real run of one epoch on 500 MNIST digits, complete."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    train(config_from_dict(json.loads(json.dumps(TINY)), "tiny"), out)
    return out


@pytest.fixture
def copy_run(tiny_run, tmp_path):
    """copy_run(name) -> a copy of the tiny run, to damage."""

    def copy(name: str = "run") -> Path:
        return Path(shutil.copytree(tiny_run, tmp_path / name))

    return copy


def rewrite_last(run_dir: Path, change, raw: bool = False) -> Path:
    """last.npz saved again with its metadata changed by `change(meta)`, as a crafted file
    (`raw`: by numpy, so that not even the sizes are filled in)."""
    last = run_dir / "checkpoints" / "last.npz"
    network, meta = load_checkpoint(last)
    change(meta)
    if not raw:
        save_checkpoint(last, network, meta)
        return last
    arrays = {f"layers.{l}.{kind}": array for l, pair in
              enumerate(zip(network.weights, network.biases), start=1)
              for kind, array in zip(("weight", "bias"), pair)}
    with open(last, "wb") as f:
        np.savez(f, **arrays, metadata=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return last


def set_progress(key: str, value):
    def change(meta: dict) -> None:
        meta["progress"][key] = value
        if key == "epoch":
            meta["epoch"] = value  # the two agree: the progress field is what is refused
    return change


# --------------------------------------------------------------------------- items 5 and 6

GOOD_RNG = {"bit_generator": "PCG64", "state": {"state": 5, "inc": 7}, "has_uint32": 0,
            "uinteger": 0}
BAD_PROGRESS = [
    ("rng", {}), ("rng", "abc"), ("rng", []), ("rng", {**GOOD_RNG, "bit_generator": "MT19937"}),
    ("rng", {**GOOD_RNG, "state": {"state": -1, "inc": 7}}),
    ("rng", {**GOOD_RNG, "state": {"state": 2**200, "inc": 7}}),
    ("rng", {**GOOD_RNG, "has_uint32": 5}), ("rng", {**GOOD_RNG, "uinteger": 2**40}),
    ("epoch", 1.5), ("epoch", 1e20), ("epoch", -1), ("epoch", "1"), ("epoch", True),
    ("epoch", 2**64),
    ("position", "abc"), ("position", -100), ("position", 1.5), ("position", None),
    ("loss_sum", "0"), ("loss_sum", -1.0), ("loss_sum", math.inf), ("loss_sum", math.nan),
    ("seconds", "0"), ("seconds", -5), ("mistakes", "0"), ("updates", 1.5),
    ("best_epoch", "1"), ("best_epoch", 2), ("best_val_accuracy", "0.5"),
    ("best_val_accuracy", 1.5), ("best_val_accuracy", -0.1),
]


@pytest.mark.parametrize("key,value", BAD_PROGRESS, ids=lambda v: repr(v)[:30])
def test_a_bad_progress_field_is_one_line_wherever_it_is_read(copy_run, run, key, value):
    run_dir = copy_run()
    last = rewrite_last(run_dir, set_progress(key, value))
    before = snapshot(run_dir)
    resumed = run("train", "--resume", run_dir, "--set", "training.epochs=2", "--quiet")
    assert_one_line_error(resumed, 1, str(last), f"progress.{key}")
    assert_one_line_error(run("evaluate", last), 1, f"progress.{key}")
    listed = json.loads(run("runs", run_dir, "--json").stdout)
    assert listed["status"] == "damaged" and f"progress.{key}" in listed["problem"]
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("change,words", [
    (lambda meta: meta.update(progress="abc"), "progress: not a JSON object"),
    (lambda meta: meta.update(progress=[1, 2]), "progress: not a JSON object"),
    (lambda meta: meta["progress"].pop("rng"), "progress: no rng"),
    (lambda meta: meta["progress"].update(extra=1), "unknown key 'extra'"),
    (lambda meta: meta.update(epoch="abc"), "epoch: must be a whole number"),
    (lambda meta: meta.update(epoch=0), "is not its progress.epoch"),
    (lambda meta: meta["progress"].update(loss_sum=1.0), "sums of an epoch not begun"),
    (lambda meta: meta["progress"].update(position=3, mistakes=4), "progress.mistakes: 4 in 3"),
    (lambda meta: meta.update(sizes="784-8-10"), "sizes: must be a list"),
    (lambda meta: meta.update(sizes=5), "sizes: must be a list"),
    (lambda meta: None, None),  # the same file written by numpy: a valid checkpoint
], ids=range(11))
def test_a_bad_progress_or_epoch_in_the_metadata_is_one_line(copy_run, run, change, words):
    run_dir = copy_run()
    last = rewrite_last(run_dir, change, raw=True)
    if words is None:
        assert json.loads(run("runs", run_dir, "--json").stdout)["status"] == "finished"
        return
    resumed = run("train", "--resume", run_dir, "--set", "training.epochs=2", "--quiet")
    assert_one_line_error(resumed, 1, str(last), words)
    assert json.loads(run("runs", run_dir, "--json").stdout)["status"] == "damaged"


@pytest.mark.parametrize("position", [EXAMPLES, EXAMPLES + 1, 60_000, 2**62])
def test_resuming_from_a_position_past_the_epoch_is_refused(copy_run, run, position):
    run_dir = copy_run()
    last = rewrite_last(run_dir, lambda meta: meta["progress"].update(position=position))
    before = snapshot(run_dir)
    resumed = run("train", "--resume", run_dir, "--set", "training.epochs=2", "--quiet")
    assert_one_line_error(resumed, 1, str(last), f"progress.position is {position:,}",
                          f"0 to {EXAMPLES - 1:,}")
    assert snapshot(run_dir) == before


def test_the_last_example_of_the_epoch_is_a_valid_position(copy_run, run):
    """The neighbour inside the range: resumed, it trains the one example left, then epoch 3."""
    run_dir = copy_run()
    rewrite_last(run_dir, lambda meta: meta["progress"].update(
        position=EXAMPLES - 1, loss_sum=1.0, mistakes=2, updates=EXAMPLES - 1, seconds=0.5))
    resumed = run("train", "--resume", run_dir, "--set", "training.epochs=3", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert (run_dir / "metrics.jsonl").read_text().count("\n") == 3


# --------------------------------------------------------------------------- item 7


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE = {
    "last.npz epoch": (lambda r: rewrite_last(r, lambda m: m.update(epoch="abc")), "last.npz"),
    "last.npz progress": (lambda r: rewrite_last(r, lambda m: m.update(progress=5)), "last.npz"),
    "last.npz config": (lambda r: rewrite_last(r, lambda m: m.update(config={"x": 1})),
                        "config stored in the checkpoint"),
    "last.npz a directory": (lambda r: directory(r / "checkpoints" / "last.npz"), "last.npz"),
    "last.npz a FIFO": (lambda r: fifo(r / "checkpoints" / "last.npz"), "last.npz"),
    "summary not JSON": (lambda r: (r / "summary.json").write_text("{"), "summary.json"),
    "summary test_accuracy": (lambda r: (r / "summary.json").write_text(
        '{"status": "finished", "test_accuracy": "high"}'), "summary.json: test_accuracy"),
    "summary status": (lambda r: (r / "summary.json").write_text('{"status": 5}'),
                       "summary.json: status"),
    "summary a list": (lambda r: (r / "summary.json").write_text("[]"), "summary.json"),
    "summary a directory": (lambda r: directory(r / "summary.json"), "summary.json"),
    "summary a FIFO": (lambda r: fifo(r / "summary.json"), "summary.json"),
    "config.yaml invalid": (lambda r: (r / "config.yaml").write_text("model: {hidden: x}"),
                            "config.yaml"),
    "config.yaml a directory": (lambda r: directory(r / "config.yaml"), "config.yaml"),
    "config.yaml a FIFO": (lambda r: fifo(r / "config.yaml"), "config.yaml"),
    "metrics line": (lambda r: (r / "metrics.jsonl").open("a").write('{"epoch": "x"}\n'),
                     "metrics.jsonl: line 2"),
    "metrics seconds": (lambda r: (r / "metrics.jsonl").write_text(json.dumps(
        {**json.loads((r / "metrics.jsonl").read_text()), "seconds": "1"}) + "\n"),
        "metrics.jsonl: line 1: seconds is not a number"),
    "metrics missing": (lambda r: (r / "metrics.jsonl").unlink(), "holds 0 epochs"),
    "metrics a directory": (lambda r: directory(r / "metrics.jsonl"), "metrics.jsonl"),
    "metrics a FIFO": (lambda r: fifo(r / "metrics.jsonl"), "metrics.jsonl"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_run_is_listed_as_damaged_beside_the_others(copy_run, run, kind):
    damage, words = DAMAGE[kind]
    good, damaged = copy_run("good"), copy_run("damaged")
    damage(damaged)
    parent = good.parent
    rows = {Path(row["run"]).name: row for row in map(
        json.loads, run("runs", parent, "--json").stdout.splitlines())}
    assert rows["good"]["status"] == "finished" and rows["good"]["problem"] is None
    assert rows["damaged"]["status"] == "damaged" and words in rows["damaged"]["problem"], rows
    for sort in ("name", "test_accuracy", "val_accuracy", "seconds", "epochs"):
        listed = run("runs", parent, "--sort", sort)
        assert listed.exit_code == 0 and "damaged" in listed.stdout, listed.stderr


def test_the_table_and_csv_show_what_is_damaged(copy_run, run):
    copy_run("good")
    damaged = copy_run("damaged")
    rewrite_last(damaged, lambda meta: meta.update(epoch="abc"))
    listed = run("runs", damaged.parent)
    assert listed.exit_code == 0, listed.stderr
    assert "problem" in listed.stdout and "damaged" in listed.stdout and "epoch" in listed.stdout
    rows = {Path(row["run"]).name: row for row in csv.DictReader(io.StringIO(
        run("runs", damaged.parent, "--csv").stdout))}
    assert rows["damaged"]["status"] == "damaged" and "epoch" in rows["damaged"]["problem"]
    assert rows["good"]["status"] == "finished" and rows["good"]["problem"] == ""


# --------------------------------------------------------------------------- item 2

BASE = {"model": {"hidden": [8]}, "training": {"epochs": 2},
        "data": {"limit": 300, "validation": 100}}


@pytest.fixture
def write_sweep(tmp_path):
    def write(spec: dict, name: str = "sweep.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"base": BASE, **spec}, sort_keys=False))
        return path

    return write


def outcomes_of(sweep, statuses: dict[str, str]) -> dict[str, dict]:
    return {t.id: {"status": statuses.get(t.id, "finished"), "val_accuracy":
                   None if statuses.get(t.id, "finished") in ("failed", "diverged") else 0.9,
                   "message": f"{t.id} went wrong", "epochs": 1, "seconds": 1.0}
            for t in sweep.trials}


def test_a_sweep_whose_every_trial_failed_has_no_result(write_sweep):
    sweep = load_sweep(write_sweep({"parameters": {"training.learning_rate": {
        "values": [0.1, 0.2]}}, "seeds": [0, 1]}))
    statuses = {"p000-s0": "diverged", "p000-s1": "failed", "p001-s0": "failed",
                "p001-s1": "failed"}
    with pytest.raises(NnctlError) as error:
        best_line(sweep, point_results(sweep, outcomes_of(sweep, statuses)))
    message = str(error.value)
    assert "4 of 4 trials failed or diverged" in message and "\n" not in message
    assert "p000-s0, diverged: p000-s0 went wrong" in message  # the first, in trial order
    one_each = {"p000-s1": "failed", "p001-s0": "diverged"}  # every point has a failed seed
    with pytest.raises(NnctlError, match="2 of 4 trials failed or diverged"):
        best_line(sweep, point_results(sweep, outcomes_of(sweep, one_each)))
    some = point_results(sweep, outcomes_of(sweep, {"p000-s1": "failed"}))
    assert best_line(sweep, some).startswith("best point 1")  # one point finished: a result


# --------------------------------------------------------------------------- item 8


@pytest.fixture
def stored_sweep(write_sweep, tmp_path):
    """A sweep directory as `nnctl sweep` leaves it before any trial ran, and its sweep.json."""
    sweep = load_sweep(write_sweep({
        "parameters": {"training.learning_rate": {"values": [0.1, 0.2]}}, "seeds": [0, 1],
        "early_stop": {"min_epochs": 1, "reduction_factor": 3}}))
    where = new_sweep_dir(tmp_path / "sweep", "x")
    (where / SWEEP_MARKER).write_text("{}")
    store_sweep(where, sweep, new_token())
    return where, json.loads((where / "sweep.json").read_text())


def trial(k: int, **change) -> callable:
    def damage(data: dict) -> None:
        data["trials"][k].update(change)
    return damage


BAD_SWEEP_JSON = {
    "early_stop reduction_factor 1": (lambda d: d["early_stop"].update(reduction_factor=1),
                                      "early_stop: reduction_factor: must be a whole number"),
    "early_stop min_epochs 0": (lambda d: d["early_stop"].update(min_epochs=0), "min_epochs"),
    "early_stop min_epochs '1'": (lambda d: d["early_stop"].update(min_epochs="1"),
                                  "got '1'"),
    "early_stop min_epochs 10**30": (lambda d: d["early_stop"].update(min_epochs=10**30),
                                     "min_epochs"),
    "early_stop min_epochs 1.5": (lambda d: d["early_stop"].update(min_epochs=1.5),
                                  "min_epochs"),
    "early_stop reduction_factor true": (lambda d: d["early_stop"].update(reduction_factor=True),
                                         "reduction_factor"),
    "early_stop a string": (lambda d: d.update(early_stop="yes"), "early_stop: a mapping"),
    "early_stop unknown key": (lambda d: d["early_stop"].update(grace=2), "grace: unknown key"),
    "metric": (lambda d: d.update(metric="test_accuracy"), "metric: test_accuracy is a test"),
    "method": (lambda d: d.update(method="bayes"), "method: bayes"),
    "random without samples": (lambda d: d.update(method="random"), "samples"),
    "samples on a grid": (lambda d: d.update(samples=3), "samples: only with method: random"),
    "seeds strings": (lambda d: d.update(seeds=["0", "1"]), "seeds"),
    "seeds negative": (lambda d: d.update(seeds=[-1, 1]), "seeds"),
    "parameters unknown key": (lambda d: d.update(parameters={"training.lr": {"values": [1]}}),
                               "training.lr"),
    "parameters not a mapping": (lambda d: d.update(parameters=[1]), "parameters"),
    "base invalid": (lambda d: d["base"]["training"].update(learning_rate="fast"),
                     "base: training.learning_rate"),
    "base a file name": (lambda d: d.update(base="base.yaml"), "base a config"),
    "source missing": (lambda d: d.pop("source"), "no source"),
    "unknown key": (lambda d: d.update(extra=1), "extra: unknown key"),
    "trials missing one": (lambda d: d["trials"].pop(), "trials"),
    "trial value off the axis": (trial(1, values={"training.learning_rate": 0.3}), "trial 1"),
    "trial value of another point": (trial(1, values={"training.learning_rate": 0.2}),
                                     "trial 1"),
    "trial values not a mapping": (trial(0, values=[0.1]), "trial 0"),
    "trial id": (trial(2, id="p001-s9"), "trial 2"),
    "trial point a string": (trial(2, point="1"), "trial 2"),
    "trial with an extra key": (trial(3, extra=1), "trial 3"),
    "token": (lambda d: d.update(token=5), "token"),
}


@pytest.mark.parametrize("kind", list(BAD_SWEEP_JSON))
def test_a_bad_sweep_json_is_refused_by_the_sweep_files_validator(stored_sweep, run, kind):
    where, data = stored_sweep
    damage, words = BAD_SWEEP_JSON[kind]
    damage(data)
    (where / "sweep.json").write_text(json.dumps(data))
    before = snapshot(where)
    assert_one_line_error(run("sweep", "--resume", where), 1, f"{where / 'sweep.json'}: ",
                          words, "not a sweep file of nnctl")
    assert snapshot(where) == before


def test_sweep_json_takes_what_a_sweep_file_takes(stored_sweep):
    where, data = stored_sweep
    assert read_sweep(where)[0].early_stop == {"min_epochs": 1, "reduction_factor": 3}
    for early_stop, expected in (({"min_epochs": 2}, {"min_epochs": 2, "reduction_factor": 3}),
                                 (True, {"min_epochs": 1, "reduction_factor": 3}),
                                 (None, None)):
        (where / "sweep.json").write_text(json.dumps({**data, "early_stop": early_stop}))
        assert read_sweep(where)[0].early_stop == expected


def test_a_bad_sweep_json_is_refused_before_ray_is_imported(stored_sweep):
    """In a fresh interpreter: the refusal comes before `import ray` (a second or two)."""
    where, data = stored_sweep
    data["early_stop"]["reduction_factor"] = 1
    (where / "sweep.json").write_text(json.dumps(data))
    code = ("import sys\nfrom nnctl.cli import main\ntry:\n    status = main()\n"
            "except SystemExit as e:\n    status = e.code\nprint('ray' in sys.modules, status)\n")
    result = subprocess.run([sys.executable, "-c", code, "sweep", "--resume", str(where)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.stdout.split() == ["False", "1"], (result.stdout, result.stderr)
    assert "reduction_factor" in result.stderr

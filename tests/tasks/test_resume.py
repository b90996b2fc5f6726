"""Never lose a run: exact resume, SIGINT / SIGTERM, SIGKILL at random moments, divergence."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from conftest import (
    checkpoints,
    sigint_after_epoch,
    sigterm_after_chunks,
    uninterrupted_checkpoints,
)

import nnctl.tasks.train
from nnctl.errors import ConfigError
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import config_from_dict
from nnctl.io.run_dir import resume_config
from nnctl.tasks.train import Interrupted, train

QUICK = {"model": {"hidden": [8]}, "training": {"epochs": 3, "learning_rate": 0.1},
         "data": {"limit": 6000, "validation": 500}}  # 5,500 examples: more than a fused chunk


def quick_config(engine="fused", **training):
    raw = yaml.safe_load(yaml.safe_dump(QUICK))
    raw["training"].update(engine=engine, **training)
    return config_from_dict(raw, "test")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The checkpoints of a run that was never stopped, per engine."""
    return uninterrupted_checkpoints(tmp_path_factory, quick_config)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fused", "reference"])
@pytest.mark.parametrize("stop_after", [1, 2])
def test_interrupt_at_an_epoch_boundary_then_resume_is_bit_identical(
        uninterrupted, tmp_path, engine, stop_after):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted) as stopped:
        train(quick_config(engine), run_dir, on_epoch=sigint_after_epoch(stop_after))
    assert stopped.value.exit_code == 130
    assert f"--resume {run_dir}" in str(stopped.value)
    _, meta = load_checkpoint(run_dir / "checkpoints" / "last.npz")
    assert meta["epoch"] == stop_after and meta["progress"]["position"] == 0

    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == uninterrupted[engine]


@pytest.mark.slow
@pytest.mark.parametrize("engine,calls", [("fused", 1), ("reference", 1), ("reference", 3)])
def test_interrupt_mid_epoch_then_resume_is_bit_identical(uninterrupted, tmp_path, monkeypatch,
                                                          engine, calls):
    make_engine = nnctl.tasks.train.make_engine
    run_dir = tmp_path / "run"
    sigterm_after_chunks(monkeypatch, calls)
    with pytest.raises(Interrupted) as stopped:
        train(quick_config(engine), run_dir)
    assert stopped.value.exit_code == 143
    _, meta = load_checkpoint(run_dir / "checkpoints" / "last.npz")
    chunk = nnctl.tasks.train.CHUNK_SIZES[engine]
    assert meta["epoch"] == 0 and meta["progress"]["position"] == calls * chunk

    monkeypatch.setattr(nnctl.tasks.train, "make_engine", make_engine)
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == uninterrupted[engine]


def nnctl_cmd(*args):
    return [sys.executable, "-m", "nnctl", *map(str, args)]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_stops_cleanly_on_a_signal(tmp_path, signum, status):
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({"model": {"hidden": [64]},
                                      "training": {"epochs": 50, "engine": "reference"},
                                      "data": {"limit": 20000, "validation": 1000}}))
    run_dir = tmp_path / "run"
    child = subprocess.Popen(nnctl_cmd("train", config, "--out", run_dir), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run_dir / "metrics.jsonl").exists() or not (run_dir / "metrics.jsonl").read_text():
        assert time.monotonic() < deadline and child.poll() is None, "training did not start"
        time.sleep(0.05)
    child.send_signal(signum)
    _out, err = child.communicate(timeout=30)
    assert child.returncode == status, err
    lines = [line for line in err.splitlines() if "resume" in line]
    assert len(lines) == 1 and f"nnctl train --resume {run_dir}" in lines[0]
    assert "Traceback" not in err
    network, meta = load_checkpoint(run_dir / "checkpoints" / "last.npz")
    assert meta["epoch"] >= 1 and all(np.isfinite(W).all() for W in network.weights)


@pytest.mark.slow
@pytest.mark.subprocess
def test_sigkill_at_random_moments_never_breaks_a_checkpoint(tmp_path):
    """20 real `nnctl train` processes killed at random moments (start-up, data loading, training,
    checkpoint writes); every checkpoint left behind loads, and resuming ends where a run that was
    never killed ends, byte for byte."""
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model": {"hidden": [16]},
                                      "training": {"epochs": 6, "engine": "reference", "seed": 5},
                                      "data": {"limit": 3000, "validation": 500}}))
    whole = tmp_path / "whole"
    started = time.monotonic()
    subprocess.run(nnctl_cmd("train", config, "--out", whole, "--quiet"), cwd=tmp_path,
                   check=True, capture_output=True)
    duration = time.monotonic() - started
    run_dir = tmp_path / "run"
    rng = random.Random(1234)
    kills = 0
    while kills < 20:
        finished = (run_dir / "summary.json").exists()
        resumable = (run_dir / "checkpoints" / "last.npz").exists() and not finished
        args = ("--resume", run_dir) if resumable else (config, "--out", run_dir, "--force")
        child = subprocess.Popen(nnctl_cmd("train", *args, "--quiet"), cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.6) * duration)
        if child.poll() is None:
            child.kill()
            kills += 1
        child.wait()
        for path in (run_dir / "checkpoints").glob("*.npz") if run_dir.exists() else ():
            network, _meta = load_checkpoint(path)  # raises if any checkpoint is damaged
            assert all(np.isfinite(W).all() for W in network.weights)
    assert kills == 20
    last = run_dir / "checkpoints" / "last.npz"
    args = ("--resume", run_dir) if last.exists() else (config, "--out", run_dir, "--force")
    finish = subprocess.run(nnctl_cmd("train", *args, "--quiet"), cwd=tmp_path,
                            capture_output=True, check=False, text=True)
    assert finish.returncode == 0, finish.stderr
    assert checkpoints(run_dir) == checkpoints(whole)


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_divergence_stops_with_exit_3_and_keeps_the_last_good_checkpoint(
        run, write_config, tmp_path, engine):
    config = write_config({"model": {"hidden": [16], "activation": "relu", "output": "identity"},
                           "training": {"loss": "squared_error", "learning_rate": 50,
                                        "engine": engine}})
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet")
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: training diverged")
    assert "epoch 1, example" in lines[0] and "smaller training.learning_rate" in lines[0]
    assert "Warning" not in result.stderr and "RuntimeWarning" not in result.stderr
    network, meta = load_checkpoint(out / "checkpoints" / "last.npz")
    assert meta["epoch"] == 0 and all(np.isfinite(W).all() for W in network.weights)


def test_resume_refuses_an_edited_config_and_unsafe_overrides(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0

    more = run("train", "--resume", out, "--set", "training.epochs=2", "--quiet")
    assert more.exit_code == 0, more.stderr
    assert load_checkpoint(out / "checkpoints" / "last.npz")[1]["epoch"] == 2

    unsafe = run("train", "--resume", out, "--set", "training.learning_rate=0.5")
    assert unsafe.exit_code == 2 and "training.learning_rate" in unsafe.stderr

    saved = out / "config.yaml"
    saved.write_text(saved.read_text().replace("epochs: 2", "epochs: 3"))  # when to stop: allowed
    assert resume_config(out).training.epochs == 3
    saved.write_text(saved.read_text().replace("learning_rate: 0.1", "learning_rate: 0.3"))
    edited = run("train", "--resume", out)
    assert edited.exit_code == 2 and "training.learning_rate" in edited.stderr
    with pytest.raises(ConfigError, match="training.learning_rate"):
        resume_config(out)


def test_resume_needs_a_run(run, tmp_path):
    result = run("train", "--resume", tmp_path)
    assert result.exit_code == 1 and "nothing to resume" in result.stderr
    assert run("train").exit_code == 2  # neither CONFIG nor --resume


def test_divergence_is_detected_identically_on_both_engines(run, write_config, tmp_path):
    """A NaN output must not hide behind the clamped log of cross-entropy (max(TINY, NaN) is TINY
    in compiled code): both engines stop at the same example with the same message."""
    config = write_config({"model": {"hidden": [32], "activation": "relu"},
                           "training": {"learning_rate": 1e20}})
    messages = {}
    for engine in ("fused", "reference"):
        out = tmp_path / engine
        result = run("train", config, "--out", out, "--set", f"training.engine={engine}", "--quiet")
        assert result.exit_code == 3, result.stderr
        messages[engine] = result.stderr.replace(str(out), "RUN")
        assert "Warning" not in result.stderr
        assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
            "best.npz", "epoch-000.npz", "last.npz"]
        assert (out / "metrics.jsonl").read_text() == ""
    assert messages["fused"] == messages["reference"]

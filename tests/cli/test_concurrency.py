"""A run belongs to one process at a time: real `nnctl` processes started together, resumed
while training, read while training, killed while holding the lock, signalled at every moment.
No mocks: the races are the operating system's."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from startup import python_own

from nnctl.errors import RunDirError
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.run_dir import RUN_MARKER, claim_run_dir, writer_pid

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def nnctl(*args) -> list[str]:
    return [sys.executable, "-m", "nnctl", *map(str, args)]


def start(*args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(nnctl(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(children: list[subprocess.Popen]) -> list[tuple[int, str]]:
    errors = [child.communicate(timeout=120)[1] for child in children]
    return [(child.returncode, err) for child, err in zip(children, errors)]


def metrics_epochs(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"]
            for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def wait_for(predicate, child: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert child.poll() is None, f"the trainer ended before {what}: {child.communicate()[1]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def quick(tmp_path, tiny_dataset) -> Path:
    """A config that trains in well under a second on a tiny dataset: 3 epochs."""
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"hidden": [8]},
        "training": {"epochs": 3, "engine": "reference"},
        "data": {"dir": str(tiny_dataset()), "validation": 50},
    }))
    return path


@pytest.fixture
def slow(tmp_path) -> Path:
    """A config on MNIST that trains for minutes (its trainer is stopped by the tests)."""
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"hidden": [32]},
        "training": {"epochs": 500, "engine": "reference"},
        "data": {"limit": 6000, "validation": 500},
    }))
    return path


def test_same_name_runs_started_together_get_their_own_directories(tmp_path, quick):
    for round_ in range(4):
        children = [start("train", quick, "--quiet", cwd=tmp_path) for _ in range(3)]
        results = finish(children)
        assert all(status == 0 for status, _ in results), results
    runs = sorted((tmp_path / "runs").iterdir())
    assert (len(runs) == 12
            and {p.name for p in runs} == {"quick"} | {f"quick-{k}" for k in range(2, 13)})
    for run_dir in runs:
        assert metrics_epochs(run_dir) == [1, 2, 3]
        assert (run_dir / RUN_MARKER).is_file() and (run_dir / "summary.json").is_file()


def _claim(args: tuple) -> str:
    """In a child process: wait for the others, then claim the same directory."""
    barrier, out, cwd = args
    os.chdir(cwd)
    barrier.wait()
    try:
        with claim_run_dir(out, "race") as run_dir:
            time.sleep(0.2)  # hold it while the others try
            return f"claimed {run_dir}"
    except RunDirError as e:
        return f"refused {e}"


@pytest.mark.parametrize("explicit", [True, False])
def test_claiming_is_atomic_between_processes(tmp_path, explicit):
    """Processes released by one barrier claim the same name at the same instant, many times."""
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        cwd = tmp_path / f"round-{round_}"
        cwd.mkdir()
        out = str(cwd / "out") if explicit else None
        with context.Manager() as manager:
            barrier = manager.Barrier(4)
            with context.Pool(4) as pool:
                outcomes = pool.map(_claim, [(barrier, out, cwd)] * 4)
        claimed = [o for o in outcomes if o.startswith("claimed")]
        if explicit:  # one run, three clean refusals naming the holder or the run
            assert len(claimed) == 1, outcomes
            for refusal in set(outcomes) - set(claimed):
                assert "is being written by process" in refusal or "already" in refusal, refusal
        else:  # four runs
            assert len(set(claimed)) == 4, outcomes


def test_explicit_out_race_ends_with_one_run_and_clean_refusals(tmp_path, quick):
    for round_ in range(3):
        out = tmp_path / f"out-{round_}"
        results = finish([start("train", quick, "--out", out, "--quiet", cwd=tmp_path)
                          for _ in range(3)])
        statuses = sorted(status for status, _ in results)
        assert statuses == [0, 1, 1], results
        for status, err in results:
            if status == 1:
                lines = err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("Error: "), err
                assert "being written by process" in lines[0] or "already holds a run" in lines[0]
        assert metrics_epochs(out) == [1, 2, 3]
        again = subprocess.run(nnctl("train", "--resume", out), cwd=tmp_path, capture_output=True,
                               text=True, check=False)
        assert again.returncode == 0 and "the run is complete" in again.stdout, again.stderr


def test_a_second_writer_is_refused_while_readers_keep_working(tmp_path, slow):
    run_dir = tmp_path / "run"
    trainer = start("train", slow, "--out", run_dir, "--quiet", cwd=tmp_path)
    try:
        wait_for(lambda: len(metrics_epochs(run_dir)) >= 2 if (run_dir / "metrics.jsonl").exists()
                 else False, trainer, "two epochs")
        assert writer_pid(run_dir) == trainer.pid
        for args in (("--resume", run_dir), (slow, "--out", run_dir),
                     (slow, "--out", run_dir, "--force")):
            second = subprocess.run(nnctl("train", *args, "--quiet"), cwd=tmp_path,
                                    capture_output=True, text=True, timeout=60, check=False)
            lines = second.stderr.strip().splitlines()
            assert second.returncode == 1 and len(lines) == 1, second.stderr
            assert f"is being written by process {trainer.pid}" in lines[0], lines[0]
        for args in (("evaluate", run_dir, "--json"),
                     ("plot", run_dir, "--out", tmp_path / "curves.png"),
                     ("inspect-weights", run_dir, "--out", tmp_path / "figures")):
            reader = subprocess.run(nnctl(*args), cwd=tmp_path, capture_output=True, text=True,
                                    timeout=120, check=False)
            assert reader.returncode == 0, (args, reader.stderr)
        assert trainer.poll() is None
    finally:
        trainer.send_signal(signal.SIGINT)
        _out, err = trainer.communicate(timeout=60)
    assert trainer.returncode == 130 and f"nnctl train --resume {run_dir}" in err
    epochs = metrics_epochs(run_dir)
    assert epochs == list(range(1, len(epochs) + 1))  # one writer: no line twice
    assert load_checkpoint(run_dir / "checkpoints" / "last.npz")[1]["epoch"] == epochs[-1]


def test_sigkill_while_holding_the_lock_leaves_no_stale_lock(tmp_path, slow):
    run_dir = tmp_path / "run"
    trainer = start("train", slow, "--out", run_dir, "--quiet", cwd=tmp_path)
    wait_for(lambda: (run_dir / "checkpoints" / "last.npz").exists(), trainer, "a checkpoint")
    time.sleep(random.Random(0).uniform(0.05, 0.5))
    trainer.kill()
    trainer.wait()
    assert writer_pid(run_dir) is None
    stale = run_dir / "checkpoints" / f".last.npz.nnctl-{trainer.pid}.abcd1234.tmp"
    stale.write_bytes(b"left by a killed writer")
    resumed = subprocess.run(nnctl("train", "--resume", run_dir, "--set", "training.epochs=2",
                                   "--quiet"), cwd=tmp_path, capture_output=True, text=True,
                             timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert not stale.exists()
    assert not list(run_dir.rglob("*.tmp"))


def test_signal_at_any_moment_of_start_up_leaves_a_resumable_run_or_none(tmp_path, quick):
    """SIGTERM / SIGINT at random moments from process start to the end of a short run: the
    status is 130/143 with the resume line once the run directory exists, and the run then
    completes with --resume (or, with no directory, nothing was made)."""
    rng = random.Random(7)
    longer = tmp_path / "longer.yaml"  # 30 epochs: most moments fall while the run exists
    raw = yaml.safe_load(quick.read_text())
    raw["training"]["epochs"] = 30
    longer.write_text(yaml.safe_dump(raw))
    quick = longer
    started = time.monotonic()
    subprocess.run(nnctl("train", quick, "--out", tmp_path / "timing", "--quiet"), cwd=tmp_path,
                   check=True, capture_output=True)
    duration = time.monotonic() - started
    stopped = 0
    for attempt in range(16):
        run_dir = tmp_path / f"run-{attempt}"
        signum = (signal.SIGTERM, signal.SIGINT)[attempt % 2]
        child = start("train", quick, "--out", run_dir, "--quiet", cwd=tmp_path)
        time.sleep(rng.uniform(0.1, 1.1) * duration)
        child.send_signal(signum)
        _out, err = child.communicate(timeout=60)
        if python_own(err):  # the signal came before nnctl's handler could be in
            continue
        assert "Traceback" not in err, err
        if child.returncode == 0:
            continue  # finished before the signal
        if run_dir.exists():
            stopped += 1
            assert child.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[signum], err
            assert f"resume with: nnctl train --resume {run_dir}" in err, err
            resumed = subprocess.run(nnctl("train", "--resume", run_dir, "--quiet"), cwd=tmp_path,
                                     capture_output=True, text=True, timeout=120, check=False)
            assert resumed.returncode == 0, resumed.stderr
            assert metrics_epochs(run_dir) == list(range(1, 31))
        else:  # before the directory existed: killed during start-up, or stopped while loading
            assert child.returncode in (-signum, 130, 143), (child.returncode, err)
    assert stopped >= 4, "too few signals landed while the run directory existed to test it"



def test_a_run_without_checkpoint_is_replaced_without_force_or_resumed(tmp_path, quick, run):
    """A run killed before its first checkpoint (only its marker and config exist)."""
    for how in ("again", "resume"):
        run_dir = tmp_path / how
        run_dir.mkdir()
        (run_dir / RUN_MARKER).write_text("")
        (run_dir / "config.yaml").write_text(Path(quick).read_text())
        args = (quick, "--out", run_dir) if how == "again" else ("--resume", run_dir)
        result = run("train", *args, "--quiet")
        assert result.exit_code == 0, result.stderr
        assert metrics_epochs(run_dir) == [1, 2, 3]


def test_resuming_a_complete_run_is_a_no_op(tmp_path, run, write_config):
    config = write_config({"model": {"hidden": [8]},
                           "training": {"epochs": 30, "learning_rate": 2.0,
                                        "stop": {"patience": 1}}})
    out = tmp_path / "run"
    first = run("train", config, "--out", out, "--quiet")
    assert first.exit_code == 0 and "no better validation accuracy" in first.stdout
    epochs = metrics_epochs(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != RUN_MARKER}
    for _ in range(2):
        again = run("train", "--resume", out, "--quiet")
        assert again.exit_code == 0 and "the run is complete" in again.stdout, again.stdout
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != RUN_MARKER}
    assert after == before
    longer = run("train", "--resume", out, "--set", "training.stop.patience=3", "--quiet")
    assert longer.exit_code == 0 and len(metrics_epochs(out)) > len(epochs)

"""`nnctl sweep` on a real Ray (no mocks): embedded, and a head started by `ray start` that
--address connects to, on 127.0.0.1 only. Real processes and signals: SIGTERM to the sweep then
--resume, SIGKILL to the worker running a trial; both end with the checkpoints of an
uninterrupted sweep, byte for byte."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import shared_dir

pytest.importorskip("ray", reason="the sweep extra: pip install -e '.[sweep]'")
pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.subprocess]

NNCTL = str(Path(sys.executable).parent / "nnctl")
# Trials of about a second (the reference engine on 3,000 MNIST digits), so that a signal can
# land in the middle of one; the last learning rate diverges.
SWEEP = {
    "base": {"model": {"hidden": [50], "activation": "relu", "init": {"scheme": "he"}},
             "training": {"epochs": 3, "engine": "reference", "learning_rate": 0.05},
             "data": {"limit": 4000, "validation": 1000}},
    "parameters": {"training.learning_rate": {"values": [0.02, 0.05, 1.0e20]}},
    "seeds": [0, 1],
}
CHECKPOINTS = ("best.npz", "last.npz", "epoch-003.npz")


@pytest.fixture(scope="module")
def ray_env():
    """The environment of the sweeps: Ray's files under a short temporary directory (its
    socket paths must stay short), no usage reports. Nothing here keeps an embedded Ray on
    loopback: `nnctl sweep` must do that itself."""
    temp = tempfile.mkdtemp(prefix="nr", dir="/tmp")
    env = dict(os.environ, RAY_TMPDIR=temp, RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    yield env
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "lr.yaml"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    return path


def sweep(env, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([NNCTL, "sweep", *map(str, args)], check=False, env=env,
                          capture_output=True, text=True, timeout=240, **kwargs)


STARTED: list[subprocess.Popen] = []


def start_sweep(env, *args) -> subprocess.Popen:
    """A sweep in its own process group, as a shell runs a command in a terminal."""
    process = subprocess.Popen([NNCTL, "sweep", *map(str, args)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def no_sweep_left_running():
    """A sweep a failed test left running is ended (its process group: Ray's processes too)."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def epochs_done(run_dir: Path) -> int:
    try:
        return (run_dir / "metrics.jsonl").read_text().count("\n")
    except OSError:
        return 0


def committed_epochs(run_dir: Path) -> int:
    """The epochs last.npz says are done (0 before it exists)."""
    from nnctl.errors import NnctlError
    from nnctl.io.checkpoint import read_metadata

    try:
        return int(read_metadata(run_dir / "checkpoints" / "last.npz").get("epoch", 0))
    except NnctlError:
        return 0


def same_checkpoints(a: Path, b: Path) -> None:
    for trial in sorted(p.name for p in (a / "trials").iterdir()):
        for name in CHECKPOINTS:
            first, second = (d / "trials" / trial / "checkpoints" / name for d in (a, b))
            assert first.exists() == second.exists(), (trial, name)
            if first.exists():
                assert first.read_bytes() == second.read_bytes(), (trial, name)


def listening_addresses(session: int) -> list[str]:
    """The local addresses of the TCP sockets listening in the processes of `session`, as
    /proc/net/tcp and tcp6 write them (hex; 127.0.0.1 is 0100007F)."""
    inodes = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat[stat.rindex(")") + 2:].split()[3]) != session:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:["):-1])
        except (OSError, ValueError):
            continue  # ended meanwhile
    return [fields[1] for name in ("tcp", "tcp6")
            for fields in map(str.split, Path(f"/proc/net/{name}").read_text().splitlines()[1:])
            if fields[3] == "0A" and fields[9] in inodes]  # 0A: LISTEN


# 127.0.0.1, ::ffff:127.0.0.1 and ::1 as /proc/net/tcp{,6} write them (words in host order)
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def is_loopback(address: str) -> bool:
    return address.split(":")[0] in LOOPBACK


def validation_results(directory: Path) -> list[dict]:
    with open(directory / "results.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds_mean"} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, ray_env, sweep_file):
    """The sweep run uninterrupted on embedded Ray with 2 workers, once per test session
    (`shared_dir`: read it, never change it), and what the command printed."""
    def build(where: Path) -> None:
        result = sweep(ray_env, sweep_file, "--out", where / "sweep", "--workers", 2)
        (where / "result.json").write_text(json.dumps(
            {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}))

    shared = shared_dir(tmp_path_factory, "sweep-reference", build)
    printed = json.loads((shared / "result.json").read_text())
    return shared / "sweep", subprocess.CompletedProcess(args=["nnctl", "sweep"], **printed)


def test_a_sweep_on_embedded_ray_ranks_its_points(reference):
    out, result = reference
    assert result.returncode == 0, result.stderr
    assert "embedded Ray 2.60.0, 2 workers" in result.stderr
    trial_lines = [line for line in result.stderr.splitlines() if line.startswith("p0")]
    assert len(trial_lines) == 6
    assert sum("diverged" in line and "the loss became" in line for line in trial_lines) == 2
    rows = validation_results(out)
    assert [row["label"] for row in rows[2:]] == ["lr=1e+20"] and rows[2]["rank"] == ""
    assert rows[0]["rank"] == "1" and float(rows[0]["mean"]) >= float(rows[1]["mean"])
    assert {row["label"] for row in rows[:2]} == {"lr=0.02", "lr=0.05"}
    assert result.stdout.count("test accuracy") == 1  # once, for the best point
    best = next(line for line in result.stdout.splitlines() if line.startswith("best point"))
    assert rows[0]["label"] in best
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [line["point"] for line in lines] == [int(row["point"]) for row in rows]
    assert all(len(line["trials"]) == 2 for line in lines)
    assert (out / "best-curves.png").stat().st_size > 10_000
    assert (out / "metric-vs-training.learning_rate.png").stat().st_size > 10_000


def test_each_trial_is_an_ordinary_run_directory(reference, run, tmp_path):
    out, _ = reference
    listed = run("runs", out, "--json")
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["status"] for r in runs) == ["diverged"] * 2 + ["finished"] * 4
    trial = out / "trials" / "p000-s0"
    summary = json.loads((trial / "summary.json").read_text())
    evaluated = json.loads(run("evaluate", trial, "--json").stdout)
    assert evaluated["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert run("plot", trial, "--out", tmp_path / "curves.png").exit_code == 0
    assert run("inspect-weights", trial, "--out", tmp_path / "figures").exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(trial, copy)
    resumed = run("train", "--resume", copy, "--set", "training.epochs=4", "--quiet")
    assert resumed.exit_code == 0, resumed.stderr
    assert epochs_done(copy) == 4


def test_resuming_a_complete_sweep_changes_no_trial(reference, ray_env, tmp_path):
    out = tmp_path / "complete"
    shutil.copytree(reference[0], out, symlinks=True)  # the reference is only read
    before = {p: p.read_bytes() for p in sorted((out / "trials").rglob("*")) if p.is_file()}
    result = sweep(ray_env, "--resume", out)
    assert result.returncode == 0, result.stderr
    assert "Ray" not in result.stderr  # nothing left to run: Ray is not started
    assert {p: p.read_bytes() for p in before} == before


def stop_and_resume(reference, env, sweep_file, out, how, *address) -> None:
    """Start the sweep, stop it as `how` says once a trial has trained an epoch, check the
    one-line stop and the interrupted trial, resume it: the uninterrupted sweep's results."""
    process = start_sweep(env, sweep_file, "--out", out, "--workers", 2, *address)
    wait_for(lambda: epochs_done(out / "trials" / "p000-s0") >= 1)
    if not address:  # embedded Ray is up and training: its servers listen on loopback only
        listening = listening_addresses(process.pid)
        assert len(listening) >= 3 and all(map(is_loopback, listening)), listening
    if how.startswith("SIGTERM"):
        process.send_signal(signal.SIGTERM)
    else:  # a terminal sends Ctrl-C to the foreground process group
        os.killpg(process.pid, signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == (143 if how.startswith("SIGTERM") else 130), stderr
    assert stderr.strip().splitlines()[-1].endswith(f"resume with: nnctl sweep --resume {out}")
    assert "Traceback" not in stderr
    statuses = [json.loads((d / "summary.json").read_text())["status"]
                for d in (out / "trials").iterdir() if (d / "summary.json").exists()]
    assert "interrupted" in statuses  # a trial saved its checkpoint mid-way
    result = sweep(env, "--resume", out, *address)
    assert result.returncode == 0, result.stderr
    assert "resumed from epoch" in result.stderr
    same_checkpoints(reference[0], out)
    assert validation_results(out) == validation_results(reference[0])


def test_ctrl_c_stops_an_embedded_sweep_and_resume_gives_the_uninterrupted_results(
        reference, ray_env, sweep_file, tmp_path):
    """Ctrl-C in a terminal: SIGINT to the sweep's whole process group, Ray's processes too."""
    stop_and_resume(reference, ray_env, sweep_file, tmp_path / "stopped", "SIGINT")


@pytest.mark.parametrize("seconds", [0.5, 1.5])  # libraries importing; Ray starting
def test_sigterm_while_starting_is_a_clean_stop(ray_env, sweep_file, tmp_path, seconds):
    out = tmp_path / "early"
    process = start_sweep(ray_env, sweep_file, "--out", out, "--workers", 2)
    time.sleep(seconds)  # (Ray sets a SIGTERM handler of its own while it starts)
    process.send_signal(signal.SIGTERM)
    _stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert len(stderr.strip().splitlines()) <= 2 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("SIGTERM: ")
    if out.exists():  # stopped once the sweep directory was made: a sweep to resume
        from nnctl.sweep.state import read_sweep

        assert len(read_sweep(out)[0].trials) == 6
        assert stderr.strip().endswith(f"resume with: nnctl sweep --resume {out}")
    else:
        assert "nothing was" in stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(ray_env, tmp_path_factory):
    """A Ray head started with `ray start --block` on 127.0.0.1 (token authentication on, as
    Ray 2.5x has it by default), stopped by its PID; shared by the module's cluster tests."""
    port = free_port()
    env = dict(ray_env, RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    tmp_path = tmp_path_factory.mktemp("head")
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address",
         "127.0.0.1", "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", ray_env["RAY_TMPDIR"], "--block"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def listening() -> bool:
            assert head.poll() is None, head.stderr.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(listening, 90)
        yield f"127.0.0.1:{port}", env
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()


def test_a_worker_killed_mid_trial_costs_only_its_unfinished_epoch(reference, ray_head,
                                                                   sweep_file, tmp_path):
    address, env = ray_head
    out = tmp_path / "killed"
    trial = out / "trials" / "p000-s0"
    process = start_sweep(env, sweep_file, "--out", out, "--address", address, "--workers", 2)
    wait_for(lambda: committed_epochs(trial) >= 1)  # last.npz commits an epoch
    first_epoch = (trial / "metrics.jsonl").read_text().splitlines()[0]
    worker = json.loads((trial / ".nnctl-run").read_text())["pid"]
    assert worker != process.pid
    os.kill(worker, signal.SIGKILL)
    _stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    line = next(line for line in stderr.splitlines() if line.startswith("p000-s0"))
    assert "finished (3 epochs, resumed from epoch" in line
    # epoch 1 was not trained again: its record (with its wall time) is the one written before
    assert (trial / "metrics.jsonl").read_text().splitlines()[0] == first_epoch
    same_checkpoints(reference[0], out)


def test_sigterm_stops_a_sweep_on_a_cluster_and_resume_gives_the_uninterrupted_results(
        reference, ray_head, sweep_file, tmp_path):
    """SIGTERM to the sweep alone (as a service manager sends it), its trials on a cluster."""
    address, env = ray_head
    stop_and_resume(reference, env, sweep_file, tmp_path / "stopped", "SIGTERM",
                    "--address", address)


def test_a_sweep_on_a_ray_cluster_with_early_stopping(ray_head, tmp_path):
    address, env = ray_head
    spec = {**SWEEP, "parameters": {"training.learning_rate": {"values": [0.02, 0.05, 1e-9]}},
            "seeds": [0], "early_stop": {"min_epochs": 1, "reduction_factor": 2}}
    spec["base"] = {**SWEEP["base"], "training": {**SWEEP["base"]["training"],
                                                  "engine": "fused"}}
    path = tmp_path / "early.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "on-cluster"
    # one trial at a time: the hopeless one reaches the first rung after the two others
    result = sweep(env, path, "--out", out, "--address", address, "--workers", 1)
    assert result.returncode == 0, result.stderr
    assert f"cluster at {address} (1 nodes, 2 CPUs)" in result.stderr
    assert "rungs at epochs 1, 2" in result.stderr
    lines = {line.split()[0]: line for line in result.stderr.splitlines()
             if line.startswith("p0")}
    assert "finished (3 epochs)" in lines["p000-s0"]  # the first at every rung goes on
    assert "early-stopped (1 epochs)" in lines["p002-s0"]  # below the others at epoch 1
    rows = validation_results(out)
    assert rows[-1]["label"] == "lr=1e-09" and rows[-1]["early_stopped"] == "1"
    assert epochs_done(out / "trials" / "p002-s0") == 1
    rungs = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()
             if "rung" in line]
    first = {r["trial"]: r["value"] for r in rungs if r["rung"] == 1}
    assert first["p002-s0"] < min(first["p000-s0"], first["p001-s0"])


def test_a_cluster_address_that_does_not_answer_is_a_one_line_error(ray_env, tmp_path, sweep_file):
    result = sweep(ray_env, sweep_file, "--out", tmp_path / "x", "--address",
                   f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no Ray cluster answers there" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_real_sweep_whose_trials_all_fail_exits_1_and_so_does_its_resume(ray_head, tmp_path):
    address, env = ray_head
    base = {"model": {"hidden": [8]}, "training": {"epochs": 2},
            "data": {"limit": 300, "validation": 100}}
    spec = {"base": {**base, "data": {**base["data"],
                                      "train_images": str(tmp_path / "none" / "images.gz")}},
            "parameters": {"training.learning_rate": {"values": [0.1, 0.2]}}, "seeds": [0]}
    (tmp_path / "fails.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "sweep"
    nnctl = [sys.executable, "-m", "nnctl", "sweep"]
    result = subprocess.run([*nnctl, tmp_path / "fails.yaml", "--out", out, "--address",
                             address, "--workers", "2"], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: the sweep has no result: 2 of 2 trials failed"), error
    assert "p000-s0, failed:" in error and "images.gz: no such file" in error
    assert "Traceback" not in result.stderr and (out / "results.csv").exists()
    again = subprocess.run([*nnctl, "--resume", out, "--address", address], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 1 and again.stderr.strip().splitlines()[-1] == error

"""Nothing nnctl writes leaves its directories: a symbolic link (or a file of the wrong kind)
among a run's, a sweep's or a tour's own entries is refused in one line, and a link swapped in
after that check still takes no write elsewhere. Long output names (NAME_MAX) get a temporary
file name that fits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import QUICK, assert_one_line_error, snapshot

import nnctl.io.run_dir
import nnctl.sweep.state
import nnctl.tour.outdir
from nnctl.errors import RunDirError
from nnctl.io.atomic import atomic_write_bytes, atomic_write_text, make_directory, temporary_name
from nnctl.io.checkpoint import load_checkpoint, save_checkpoint
from nnctl.io.config import config_from_dict
from nnctl.io.outputs import check_output_file
from nnctl.io.run_dir import RUN_MARKER, lock_run
from nnctl.sweep.state import append_outcome, lock_sweep
from nnctl.tour.outdir import claim_tour_dir

CONFIG = {**QUICK, "model": {"hidden": []}, "training": {"epochs": 1}}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of one epoch (copied by `run_dir` for each test)."""
    from nnctl.tasks.train import train

    out = tmp_path_factory.mktemp("finished") / "run"
    train(config_from_dict(CONFIG, "finished"), out)
    return out


@pytest.fixture
def run_dir(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run", symlinks=True))


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A folder of someone else's files named like a run's (which nnctl must never touch)."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    for name in ("epoch-000.npz", "best.npz", "last.npz", "config.yaml", "metrics.jsonl",
                 "summary.json", RUN_MARKER, "sweep.json", "outcomes.jsonl", "x.png"):
        (other / name).write_bytes(f"someone's {name}\n".encode())
    return other


@pytest.fixture
def config_file(write_config):
    return write_config({"model": {"hidden": []}, "training": {"epochs": 1}})


def link(path: Path, target: Path) -> None:
    """Put a symbolic link to `target` in the place of `path` (whatever is there)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def train_args(mode: str, run_dir: Path, config_file: Path) -> list:
    if mode == "resume":
        return ["train", "--resume", run_dir, "--set", "training.epochs=2", "--quiet"]
    return ["train", config_file, "--out", run_dir, "--quiet", *(["--force"] if mode else [])]


# --------------------------------------------------------------------------- runs


def test_checkpoints_linked_elsewhere_in_a_new_marked_run_directory(run, config_file, tmp_path,
                                                                   elsewhere):
    out = tmp_path / "fresh"
    out.mkdir()
    (out / RUN_MARKER).write_text("")
    link(out / "checkpoints", elsewhere)
    before = snapshot(elsewhere)
    result = run("train", config_file, "--out", out, "--quiet")
    assert_one_line_error(result, 1, f"{out / 'checkpoints'}: is a symbolic link")
    assert snapshot(elsewhere) == before


@pytest.mark.parametrize("mode", ["force", "resume"])
@pytest.mark.parametrize("entry", ["checkpoints", "metrics.jsonl", "summary.json", "config.yaml",
                                   RUN_MARKER, "checkpoints/last.npz",
                                   "checkpoints/layer1-001.npy"])
def test_an_own_entry_linked_elsewhere_is_refused(run, run_dir, config_file, elsewhere, entry,
                                                  mode):
    target = elsewhere if entry == "checkpoints" else elsewhere / Path(entry).name
    if not target.exists():
        target.write_bytes(b"someone's snapshot")
    link(run_dir / entry, target)
    before = snapshot(elsewhere)
    result = run(*train_args(mode, run_dir, config_file))
    assert_one_line_error(result, 1, f"{run_dir / entry}: is a symbolic link")
    assert snapshot(elsewhere) == before


@pytest.mark.parametrize("entry, make, words", [
    ("checkpoints", lambda p: p.write_bytes(b"a file"), "is a file, not the directory"),
    ("metrics.jsonl", os.mkfifo, "is a FIFO, device or socket, not the file"),
    ("config.yaml", os.mkdir, "is a directory, not the file"),
    ("checkpoints/best.npz", os.mkdir, "is a directory, not the file"),
])
@pytest.mark.parametrize("mode", ["force", "resume"])
def test_an_own_entry_of_another_kind_is_refused(run, run_dir, config_file, entry, make, words,
                                                 mode):
    path = run_dir / entry
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    make(path)
    result = run(*train_args(mode, run_dir, config_file))
    assert_one_line_error(result, 1, f"{path}: {words}")


@pytest.mark.parametrize("mode", ["", "force", "resume"])
@pytest.mark.parametrize("entry", ["checkpoints", "metrics.jsonl", "config.yaml"])
def test_a_link_swapped_in_after_the_check_takes_no_write_elsewhere(run, run_dir, config_file,
                                                                    elsewhere, entry, mode,
                                                                    monkeypatch):
    """The checks of the entries are skipped (as if the link came a moment after them), and the
    link leads to a copy of the run's own entry: the writes themselves, and --force's
    removals, still do not follow it (a link among the files --force removes is removed, not
    followed)."""
    monkeypatch.setattr(nnctl.io.run_dir, "check_run_entries", lambda run_dir: None)
    if not mode:  # a run stopped before its first checkpoint: replaced without --force
        for name in ("checkpoints", "summary.json", "metrics.jsonl"):
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        (run_dir / "checkpoints").mkdir()
        (run_dir / "metrics.jsonl").write_text("")
    copy = elsewhere / f"copy-{entry}"
    if entry == "checkpoints":
        shutil.copytree(run_dir / entry, copy)
    else:
        shutil.copy(run_dir / entry, copy)
    link(run_dir / entry, copy)
    before = snapshot(elsewhere)
    result = run(*train_args(mode, run_dir, config_file))
    if mode == "resume" or entry == "checkpoints":
        assert_one_line_error(result, 1, f"{run_dir / entry}: is a symbolic link")
    else:  # --force (or a run without a checkpoint) removed the link and trained
        assert result.exit_code == 0, result.stderr
        assert (run_dir / entry).is_file() and not (run_dir / entry).is_symlink()
    assert snapshot(elsewhere) == before


def test_out_may_be_a_link_the_user_names_to_an_empty_directory(run, config_file, tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "named").symlink_to(target)
    assert run("train", config_file, "--out", tmp_path / "named", "--quiet").exit_code == 0
    assert load_checkpoint(target / "checkpoints" / "last.npz")[1]["epoch"] == 1


def test_a_run_file_is_not_written_through_a_directory_swapped_in_while_locked(run_dir,
                                                                              elsewhere):
    network = load_checkpoint(run_dir / "checkpoints" / "last.npz")[0]
    before = snapshot(elsewhere)
    with lock_run(run_dir):
        shutil.rmtree(run_dir / "checkpoints")
        (run_dir / "checkpoints").symlink_to(elsewhere)
        with pytest.raises(RunDirError, match="checkpoints: is a symbolic link"):
            save_checkpoint(run_dir / "checkpoints" / "last.npz", network, {})
        with pytest.raises(RunDirError, match="checkpoints: is a symbolic link"):
            nnctl.io.run_dir.reset_run_files(run_dir)
        (run_dir / "metrics.jsonl").unlink()
        (run_dir / "metrics.jsonl").symlink_to(elsewhere / "metrics.jsonl")
        with pytest.raises(RunDirError, match="metrics.jsonl: is a symbolic link"):
            nnctl.io.run_dir.append_metrics(run_dir, {"epoch": 1})
    assert snapshot(elsewhere) == before


# --------------------------------------------------------------------------- user outputs


def test_an_output_directory_swapped_for_a_link_after_the_check_is_refused(run_dir, tmp_path):
    figures = tmp_path / "figures"
    out = check_output_file(figures / "last.npz")  # a user's file named like a checkpoint
    figures.rename(tmp_path / "moved")
    figures.symlink_to(run_dir / "checkpoints")
    before = snapshot(run_dir)
    with pytest.raises(RunDirError, match="was replaced since nnctl checked it"):
        atomic_write_bytes(out, b"a figure")
    assert snapshot(run_dir) == before


def test_an_output_given_as_a_link_is_replaced_as_before(tmp_path):
    (tmp_path / "target.png").write_bytes(b"kept")
    (tmp_path / "named.png").symlink_to(tmp_path / "target.png")
    atomic_write_bytes(check_output_file(tmp_path / "named.png", force=True), b"new")
    assert (tmp_path / "target.png").read_bytes() == b"kept"
    assert (tmp_path / "named.png").read_bytes() == b"new"


# --------------------------------------------------------------------------- sweeps and tours


def marked_sweep(tmp_path: Path) -> Path:
    directory = tmp_path / "sweep"
    directory.mkdir()
    with lock_sweep(directory, "token"):
        append_outcome(directory, {"trial": "t1", "rung": 1, "value": 0.5})
    return directory


@pytest.mark.parametrize("entry", ["sweep.json", "outcomes.jsonl", ".nnctl-sweep", "trials",
                                   "trials/t1"])
def test_a_sweep_directory_with_a_link_is_refused(tmp_path, elsewhere, entry):
    directory = marked_sweep(tmp_path)
    (directory / "trials").mkdir()
    link(directory / entry, elsewhere / Path(entry).name if "." in entry else elsewhere)
    before = snapshot(elsewhere)
    with pytest.raises(RunDirError, match=f"{entry}: is a symbolic link"), lock_sweep(directory,
                                                                                   "token"):
        pass
    assert snapshot(elsewhere) == before


def test_a_sweep_writes_nothing_through_a_link_swapped_in_while_locked(tmp_path, elsewhere,
                                                                      monkeypatch):
    monkeypatch.setattr(nnctl.sweep.state, "check_sweep_entries", lambda directory: None)
    directory = marked_sweep(tmp_path)
    link(directory / "outcomes.jsonl", elsewhere / "outcomes.jsonl")
    link(directory / "sweep.json", elsewhere / "sweep.json")
    before = snapshot(elsewhere)
    with lock_sweep(directory, "token"):
        with pytest.raises(RunDirError, match="outcomes.jsonl: is a symbolic link"):
            append_outcome(directory, {"trial": "t1", "rung": 1, "value": 0.5})
        with pytest.raises(RunDirError, match="sweep.json: is a symbolic link"):
            atomic_write_text(directory / "sweep.json", "{}")  # as write_sweep writes it
        link(directory / "trials", elsewhere)
        with pytest.raises(RunDirError, match="trials: is a symbolic link"):
            make_directory(directory / "trials" / "t2")
    assert snapshot(elsewhere) == before


def test_a_trial_directory_linked_elsewhere_fails_the_trial_only(tmp_path, elsewhere):
    from nnctl.sweep.trial import run_trial

    directory = tmp_path / "sweep"
    directory.mkdir()
    (directory / ".nnctl-sweep").write_text('{"token": "token"}')
    (directory / "trials").mkdir()
    (directory / "trials" / "t1").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    outcome = run_trial(CONFIG, "sweep", str(directory / "trials" / "t1"), 1, str(directory),
                        "token")
    assert outcome["status"] == "failed" and "t1: is a symbolic link" in outcome["message"]
    assert snapshot(elsewhere) == before


@pytest.mark.parametrize("entry", ["figures", "runs", "index.html", ".nnctl-tour",
                                   "figures/mlp", "figures/x.png", "runs/mlp"])
def test_a_tour_directory_with_a_link_is_refused(run, tmp_path, elsewhere, entry):
    out = tmp_path / "tour"
    for name in ("figures/mlp", "runs/mlp"):
        (out / name).mkdir(parents=True)
    (out / ".nnctl-tour").write_text("")
    link(out / entry, elsewhere / entry.split("/")[-1] if "." in entry else elsewhere)
    before = snapshot(elsewhere)
    result = run("tour", "--out", out, "--force")
    assert_one_line_error(result, 1, f"{out / entry}: is a symbolic link")
    assert snapshot(elsewhere) == before


def test_a_tour_writes_nothing_through_a_link_swapped_in_while_it_runs(tmp_path, elsewhere,
                                                                      monkeypatch):
    monkeypatch.setattr(nnctl.tour.outdir, "check_tour_entries", lambda out: None)
    out = tmp_path / "tour"
    before = snapshot(elsewhere)
    with claim_tour_dir(out, force=False):
        (out / "figures").symlink_to(elsewhere)
        with pytest.raises(RunDirError, match="figures: is a symbolic link"):
            check_output_file(out / "figures" / "x.png", force=True)
        with pytest.raises(RunDirError, match="figures: is a symbolic link"):
            atomic_write_text(out / "figures" / "x.png", "a figure")
        (out / "runs").symlink_to(elsewhere)
        with pytest.raises(RunDirError, match="runs: is a symbolic link"):
            make_directory(out / "runs" / "mlp")
    assert snapshot(elsewhere) == before


# --------------------------------------------------------------------------- long names


LONG_NAMES = {"ascii": "a" * 251 + ".png", "multi-byte": "ü" * 125 + "x.png"}


@pytest.mark.parametrize("kind", LONG_NAMES)
def test_an_output_name_of_255_bytes_is_written(run, run_dir, tmp_path, kind):
    name = LONG_NAMES[kind]
    assert len(os.fsencode(name)) == 255
    out = tmp_path / "figures" / name
    result = run("plot", run_dir, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG") and os.listdir(out.parent) == [name]


@pytest.mark.parametrize("kind", LONG_NAMES)
def test_a_run_file_of_255_bytes_is_written(run_dir, kind):
    name = LONG_NAMES[kind][:-4] + ".npz"
    network, meta = load_checkpoint(run_dir / "checkpoints" / "last.npz")
    with lock_run(run_dir):
        save_checkpoint(run_dir / "checkpoints" / name, network, meta)
    assert load_checkpoint(run_dir / "checkpoints" / name)[1] == meta
    assert not [p for p in os.listdir(run_dir / "checkpoints") if p.endswith(".tmp")]


@pytest.mark.parametrize("kind", LONG_NAMES)
def test_a_cut_temporary_of_a_dead_writer_is_removed(tmp_path, kind):
    name = LONG_NAMES[kind]
    code = ("import sys; from nnctl.io.atomic import temporary_name; "
            "print(temporary_name(sys.argv[1]))")
    child = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True,
                           check=True)
    stale = child.stdout.rstrip("\n")  # its pid, the child's, is no longer running
    # at most 255 bytes, cut at a character (the child could print it: valid UTF-8)
    assert 254 <= len(os.fsencode(stale)) <= 255 and stale.startswith("." + name[:100])
    (tmp_path / stale).write_bytes(b"partial")
    atomic_write_text(tmp_path / name, "x")
    assert os.listdir(tmp_path) == [name]


def test_a_short_name_keeps_its_whole_temporary_name():
    assert temporary_name("last.npz").startswith(f".last.npz.nnctl-{os.getpid()}.")

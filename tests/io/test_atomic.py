"""Atomic writes: the mode of the files written, and temporaries left by killed writers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nnctl.io.atomic import atomic_write_text, remove_stale_temporaries


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_files_get_0666_less_the_umask(tmp_path, umask_022):
    atomic_write_text(tmp_path / "a.txt", "x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    os.umask(0o002)
    atomic_write_text(tmp_path / "b.txt", "x")
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o664


def test_a_replaced_file_keeps_its_mode(tmp_path, umask_022):
    path = tmp_path / "shared.txt"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and path.stat().st_mode & 0o777 == 0o640


def test_a_run_directory_is_readable_by_others(run, write_config, tmp_path, umask_022):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(p.stat().st_mode & 0o777 == 0o644 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files]


def test_temporaries_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".figure.png.nnctl-{dead_pid}.k2j3x9_a.tmp"
    live = tmp_path / f".figure.png.nnctl-{os.getpid()}.a1b2c3d4.tmp"
    foreign = tmp_path / ".notes.tmp"  # not named like ours: never touched
    for path in (stale, live, foreign):
        path.write_bytes(b"partial")
    atomic_write_text(tmp_path / "other.txt", "x")
    assert not stale.exists() and live.exists() and foreign.exists()
    assert remove_stale_temporaries(tmp_path) == []

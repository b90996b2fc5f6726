"""The run directory against careless and hostile use: one line, the right status, nothing
changed that nnctl did not write."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_one_line_error, snapshot

from nnctl.io.run_dir import RUN_MARKER, owning_run


@pytest.fixture
def finished_run(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 2}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    return out


def test_out_that_is_a_file_is_one_line_exit_1(run, write_config, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("mine")
    for out in (target, target / "below"):
        result = run("train", write_config({}), "--out", out)
        assert_one_line_error(result, 1, str(target))
    assert target.read_text() == "mine"


def test_resume_of_something_that_is_not_a_run(run, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    before = snapshot(folder)
    assert_one_line_error(run("train", "--resume", folder), 1, "nothing to resume")
    assert_one_line_error(run("train", "--resume", tmp_path / "missing"), 1, "no such run")
    assert snapshot(folder) == before and not (folder / RUN_MARKER).exists()


@pytest.mark.parametrize("damage", ["no seconds", "not an object", "not json", "huge line",
                                    "missing"])
def test_resume_with_damaged_metrics_is_refused_before_any_work(run, finished_run, damage):
    metrics = finished_run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    first = json.loads(lines[0])
    if damage == "no seconds":
        del first["seconds"]
        metrics.write_text(json.dumps(first) + "\n" + lines[1] + "\n")
    elif damage == "not an object":
        metrics.write_text("[1, 2]\n" + lines[1] + "\n")
    elif damage == "not json":
        metrics.write_bytes(b"\xff\xfe garbage\n")
    elif damage == "huge line":
        metrics.write_text("1" * 5_000_000 + "\n")
    else:
        metrics.unlink()
    before = snapshot(finished_run)
    result = run("train", "--resume", finished_run, "--set", "training.epochs=3")
    assert_one_line_error(result, 1, "metrics.jsonl", "cannot be resumed")
    after = snapshot(finished_run)
    assert after == before


def test_the_marker_must_not_be_a_symbolic_link(run, finished_run, tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("mine")
    (finished_run / RUN_MARKER).unlink()
    os.symlink(elsewhere, finished_run / RUN_MARKER)
    result = run("train", "--resume", finished_run, "--set", "training.epochs=3")
    assert_one_line_error(result, 1, str(finished_run))
    assert elsewhere.read_text() == "mine"


def test_owning_run_sees_through_links_and_checkpoints(finished_run, tmp_path):
    assert owning_run(finished_run / "metrics.jsonl") == finished_run
    assert owning_run(finished_run / "checkpoints" / "best.npz") == finished_run
    assert owning_run(finished_run / "checkpoints" / "new.png") == finished_run
    assert owning_run(finished_run / "curves.png") is None
    link = tmp_path / "link.png"
    os.symlink(finished_run / "summary.json", link)
    assert owning_run(link) == finished_run
    assert owning_run(tmp_path / "figure.png") is None


def test_a_fifo_planted_as_the_marker_never_hangs(run, write_config, tmp_path):
    """Opening a FIFO for reading waits for a writer: the marker is opened without blocking."""
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / RUN_MARKER)
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    for args in (("train", config, "--out", out), ("train", "--resume", out)):
        result = run(*args)
        assert result.exit_code == 1 and result.stderr.startswith("Error: "), result.stderr
    assert run("runs", tmp_path).stdout.startswith("no runs in")

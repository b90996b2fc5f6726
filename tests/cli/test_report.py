"""`nnctl report`'s command line: what is not a run or a sweep, and an --out that exists."""

from __future__ import annotations

from conftest import assert_one_line_error


def test_a_directory_that_is_not_a_run_is_refused(run, tmp_path):
    assert_one_line_error(run("report", tmp_path), 1, "neither a run directory",
                          "nor a sweep directory")
    assert_one_line_error(run("report", tmp_path / "missing"), 1, "no such directory")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_out_is_kept_without_force(run, tmp_path):
    fake = tmp_path / "run"
    (fake / "checkpoints").mkdir(parents=True)
    (fake / "config.yaml").write_text("{}\n")
    (tmp_path / "mine.html").write_text("mine")
    assert_one_line_error(run("report", fake, "--out", tmp_path / "mine.html"), 1,
                          "already exists", "--force")
    (tmp_path / "run-report.html").write_text("mine")
    assert_one_line_error(run("report", fake), 1, "run-report.html: already exists")
    assert (tmp_path / "mine.html").read_text() == "mine"
    assert (tmp_path / "run-report.html").read_text() == "mine"
    assert_one_line_error(run("report", fake, "--out", fake / "config.yaml", "--force"), 1,
                          "is one of the files of the run")

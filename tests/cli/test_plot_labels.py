"""`nnctl plot`'s legend names runs by their names, with the config keys that differ only when
they are short; folders of runs stand for the runs below them (plot and inspect-weights); --out
has a default."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from nnctl.io.config import config_from_dict
from nnctl.tasks.train import train

pytestmark = pytest.mark.slow  # trains runs and draws figures: seconds

TINY = {"data": {"limit": 300, "validation": 100}}


def trained(out, model: dict | None = None, training: dict | None = None):
    config = config_from_dict({**TINY, "model": model or {"hidden": [4]},
                               "training": {"epochs": 1, "learning_rate": 0.1,
                                            **(training or {})}}, "test")
    train(config, out)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/lr-small and runs/lr-large (only the learning rate differs), runs/deep/single (a
    single layer: many keys differ), and two runs both named `same` in runs/deep/a and b."""
    root = tmp_path_factory.mktemp("labels") / "runs"
    trained(root / "lr-small")
    trained(root / "lr-large", training={"learning_rate": 0.3})
    trained(root / "deep" / "single", {"hidden": [], "init": {"scheme": "zeros"}},
            {"rule": "delta", "learning_rate": 0.0002, "schedule": "inverse", "decay": 0.5})
    trained(root / "deep" / "a" / "same")
    trained(root / "deep" / "b" / "same", training={"learning_rate": 0.2})
    return root


def legend(path) -> list[str]:
    """The text of an SVG figure (matplotlib writes its text as <text> elements)."""
    root = ET.parse(path).getroot()
    return [t.strip() for t in root.itertext() if t.strip()]


def plotted(run, tmp_path, *paths) -> list[str]:
    out = tmp_path / "curves.svg"
    result = run("plot", *paths, "--out", out, "--force")
    assert result.exit_code == 0, result.stderr
    return legend(out)


def test_names_with_the_short_keys_that_differ(run, runs, tmp_path):
    texts = plotted(run, tmp_path, runs / "lr-small", runs / "lr-large")
    assert "lr-small (lr=0.1)" in texts and "lr-large (lr=0.3)" in texts


def test_names_alone_when_the_keys_that_differ_are_long(run, runs, tmp_path):
    texts = plotted(run, tmp_path, runs / "lr-small", runs / "deep" / "single")
    assert "lr-small" in texts and "single" in texts
    assert not any("=" in text for text in texts)


def test_a_folder_of_runs_and_names_that_repeat(run, runs, tmp_path):
    texts = plotted(run, tmp_path, runs / "deep")
    assert "single" in texts
    assert "a/same" in texts and "b/same" in texts
    assert not any("=" in text for text in texts)


def test_the_default_out(run, runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("plot", runs / "lr-small")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "figures/curves.png"
    assert (tmp_path / "figures" / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_folder_with_no_run_is_one_line(run, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("plot", tmp_path / "empty", "--out", tmp_path / "c.png")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "no run directory below it" in result.stderr and not (tmp_path / "c.png").exists()


def test_inspect_weights_of_a_folder_of_runs(run, runs, tmp_path):
    result = run("inspect-weights", runs / "deep", "--out", tmp_path / "w")
    assert result.exit_code == 0, result.stderr
    drawn = sorted(str(p.relative_to(tmp_path / "w")) for p in (tmp_path / "w").rglob("*.png"))
    assert "single/templates.png" in drawn and "a/same/hidden-units.png" in drawn
    assert "b/same/hidden-units.png" in drawn
    before = sorted((tmp_path / "w").rglob("*"))
    (tmp_path / "w" / "b" / "same" / "hidden-units.png").unlink()
    refused = run("inspect-weights", runs / "deep", "--out", tmp_path / "w")
    assert refused.exit_code == 1 and "already exists" in refused.stderr  # the first run's files
    assert sorted((tmp_path / "w").rglob("*")) == [
        p for p in before if p.name != "hidden-units.png" or p.parent.parent.name != "b"]

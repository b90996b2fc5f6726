"""Figures in the format their name says (nnctl/figures/saving.py): PNG, SVG and PDF for every
command that writes one, checked by their bytes; an unknown suffix is one line, exit status 2,
before anything is read or written."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image

from nnctl.errors import OptionError
from nnctl.figures.curves import pyplot
from nnctl.figures.saving import FORMATS, figure_format, write_figure, write_picture
from nnctl.io.config import config_from_dict
from nnctl.io.examples import BUNDLED_DIR
from nnctl.tasks.train import train

pytestmark = pytest.mark.slow  # trains runs and draws every figure: seconds

PNG = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"


def svg_text(path) -> str:
    """Every piece of text of an SVG file (it must parse as XML with an <svg> root)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    return " ".join(t.strip() for t in root.itertext() if t.strip())


def assert_format(path, form: str) -> None:
    data = path.read_bytes()
    if form == "png":
        assert data.startswith(PNG)
    elif form == "svg":
        assert b"<svg" in data[:1000]
        ET.fromstring(data)
    elif form == "pdf":
        assert data.startswith(b"%PDF-")
    elif form == "jpg":
        assert data.startswith(b"\xff\xd8\xff")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 784-8-10 network trained one epoch on 600 MNIST digits, keeping its epoch checkpoints."""
    config = config_from_dict({"model": {"hidden": [8]},
                               "training": {"epochs": 1, "learning_rate": 0.1, "keep": "all"},
                               "data": {"limit": 600, "validation": 100}}, "test")
    out = tmp_path_factory.mktemp("formats") / "tiny-mlp"
    train(config, out)
    return out


def test_figure_format_by_suffix_and_one_line_for_any_other():
    assert [figure_format(f"a/b{s}") for s in (".png", ".SVG", ".pdf", ".jpg")] == [
        "PNG", "SVG", "PDF", "JPEG"]
    for name in ("x.foo", "x", "x.png.txt"):
        with pytest.raises(OptionError, match=r"cannot write a figure .*\.png, \.svg, \.pdf") as e:
            figure_format(name)
        assert e.value.exit_code == 2 and "\n" not in str(e.value)
    assert list(FORMATS)[:3] == [".png", ".svg", ".pdf"]


@pytest.mark.parametrize("form", ["png", "svg", "pdf", "jpg"])
def test_a_matplotlib_figure_in_each_format(tmp_path, form):
    plt = pyplot()
    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    figure.suptitle("Seen title")
    try:
        out = write_figure(figure, tmp_path / f"f.{form}", title="Meta title")
    finally:
        plt.close(figure)
    assert_format(out, form)
    if form == "svg":
        assert "Seen title" in svg_text(out) and "Meta title" in svg_text(out)
    if form == "pdf":
        assert b"Meta title" in out.read_bytes()


@pytest.mark.parametrize("form", ["png", "svg", "pdf", "gif"])
def test_a_pillow_picture_in_each_format(tmp_path, form):
    picture = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8), "L").convert("RGB")
    picture.info["title"] = "Templates of <run & co>"
    out = write_picture(picture, tmp_path / f"p.{form}")
    assert_format(out, form)
    if form == "svg":
        root = ET.parse(out).getroot()
        assert root.find(f"{SVG_NS}title").text == "Templates of <run & co>"
        assert (root.get("width"), root.get("height")) == ("8", "6")
    if form == "pdf":  # Pillow writes the title in UTF-16
        assert "Templates of <run & co>".encode("utf-16-be") in out.read_bytes()
    if form == "gif":
        with Image.open(out) as back:
            assert back.format == "GIF" and back.size == (8, 6)


def test_plot_writes_what_the_name_says(run, tiny_run, tmp_path):
    for form in ("png", "svg", "pdf", "jpg"):
        out = tmp_path / f"curves.{form}"
        result = run("plot", tiny_run, "--out", out)
        assert result.exit_code == 0, result.stderr
        assert_format(out, form)
    assert "tiny-mlp" in svg_text(tmp_path / "curves.svg")  # the legend, as text


def test_evaluate_figure_writes_what_the_name_says(run, tiny_run, tmp_path):
    for form in ("svg", "pdf"):
        out = tmp_path / f"confusion.{form}"
        result = run("evaluate", tiny_run, "--split", "validation", "--figure", out)
        assert result.exit_code == 0, result.stderr
        assert_format(out, form)
    assert "Confusion matrix" in svg_text(tmp_path / "confusion.svg")


def test_inspect_weights_format_option(run, tiny_run, tmp_path):
    result = run("inspect-weights", tiny_run, "--out", tmp_path / "w", "--format", "svg")
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "w").iterdir())
    assert names == ["hidden-units.svg", "weights-by-epoch.gif", "weights-by-epoch.svg"]
    assert "tiny-mlp" in svg_text(tmp_path / "w" / "hidden-units.svg")
    result = run("inspect-weights", tiny_run, "--out", tmp_path / "p", "--format", "pdf")
    assert result.exit_code == 0, result.stderr
    assert_format(tmp_path / "p" / "hidden-units.pdf", "pdf")
    assert_format(tmp_path / "p" / "weights-by-epoch.pdf", "pdf")


def test_data_figures_write_what_the_name_says(run, write_config, tmp_path):
    result = run("data", "info", BUNDLED_DIR, "--figure", tmp_path / "mnist.svg")
    assert result.exit_code == 0, result.stderr
    assert "mnist, train split" in svg_text(tmp_path / "mnist.svg")
    config = write_config({"data": {"augment": {"affine": {"rotation": 15}}}})
    result = run("data", "augment-preview", config, "--out", tmp_path / "aug.pdf",
                 "--examples", 2, "--variants", 1)
    assert result.exit_code == 0, result.stderr
    assert_format(tmp_path / "aug.pdf", "pdf")


def test_an_unknown_format_is_refused_before_any_work(run, write_config, tmp_path):
    """Given what does not exist to read, the name is still the first thing refused."""
    missing = tmp_path / "no-such-run"
    config = write_config({"data": {"augment": {"affine": {"rotation": 15}}}})
    for args in [("plot", missing, "--out", tmp_path / "c.foo"),
                 ("evaluate", missing, "--figure", tmp_path / "e.txt"),
                 ("data", "info", missing, "--figure", tmp_path / "d"),
                 ("data", "augment-preview", config, "--out", tmp_path / "a.npz")]:
        assert_one_line_error(run(*args), 2, "cannot write a figure", ".png, .svg, .pdf")
    result = run("inspect-weights", missing, "--format", "jpeg")
    assert result.exit_code == 2 and "png" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]

"""Figures say what they show: the weight figures (templates, hidden units) and the evaluation
figure carry the run's name in their title; `data info --figure` names its data set and its
text can be read; the tour's accuracy chart starts its axis at 0."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from nnctl.figures import lecture
from nnctl.figures.dataset import info_figure
from nnctl.figures.names import checkpoint_name
from nnctl.figures.weights import LABEL_HEIGHT, PAD
from nnctl.io.config import config_from_dict
from nnctl.io.examples import BUNDLED_DIR
from nnctl.tasks.train import train

pytestmark = pytest.mark.slow  # trains runs and draws figures: seconds

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    config = config_from_dict({"model": {"hidden": [], "init": {"scheme": "zeros"}},
                               "training": {"epochs": 1, "rule": "delta",
                                            "learning_rate": 0.0002, "keep": "all"},
                               "data": {"limit": 300, "validation": 100}}, "test")
    out = tmp_path_factory.mktemp("titles") / "my-single-layer"
    train(config, out)
    return out


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    config = config_from_dict({"model": {"hidden": [6]}, "training": {"epochs": 1},
                               "data": {"limit": 300, "validation": 100}}, "test")
    out = tmp_path_factory.mktemp("titles") / "my-mlp"
    train(config, out)
    return out


def svg_title(path) -> str:
    return ET.parse(path).getroot().find(f"{SVG_NS}title").text


def test_templates_name_the_run(run, single, tmp_path):
    result = run("inspect-weights", single, "--out", tmp_path, "--format", "svg")
    assert result.exit_code == 0, result.stderr
    assert svg_title(tmp_path / "templates.svg").startswith("Templates of my-single-layer:")
    assert svg_title(tmp_path / "template-3.svg") == "Template of digit 3 of my-single-layer"
    assert "my-single-layer" in svg_title(tmp_path / "weights-by-epoch.svg")


def test_hidden_units_name_the_run_or_checkpoint(run, mlp, tmp_path):
    result = run("inspect-weights", mlp, "--out", tmp_path / "a", "--format", "svg")
    assert result.exit_code == 0, result.stderr
    assert svg_title(tmp_path / "a" / "hidden-units.svg").startswith(
        "First-layer filters of my-mlp:")
    epoch = mlp / "checkpoints" / "epoch-001.npz"
    assert checkpoint_name(epoch) == "my-mlp, epoch-001.npz"
    assert checkpoint_name(mlp / "checkpoints" / "best.npz") == "my-mlp"


def test_the_evaluation_figure_names_the_run(run, mlp, tmp_path):
    out = tmp_path / "confusion.svg"
    result = run("evaluate", mlp, "--split", "validation", "--figure", out)
    assert result.exit_code == 0, result.stderr
    texts = [t.strip() for t in ET.parse(out).getroot().itertext() if t.strip()]
    assert "Evaluation of my-mlp on the validation split" in texts


def ink_height(strip: np.ndarray) -> int:
    """Rows of `strip` (grey levels) holding dark pixels: the height of the text in it."""
    rows = np.flatnonzero((strip < 128).any(axis=1))
    return int(rows[-1] - rows[0] + 1) if len(rows) else 0


def test_data_info_figure_names_its_data_and_its_text_can_be_read(tmp_path):
    out = info_figure(BUNDLED_DIR, tmp_path / "mnist.png", per_class=3, zoom=3)
    grey = np.asarray(Image.open(out).convert("L")).astype(int)
    tile = 28 * 3
    # the first tile: the first row where a tile's width of pixels from PAD on are all black
    top = int(np.flatnonzero((grey[:, PAD : PAD + tile] < 10).all(axis=1))[0])
    label = grey[top - LABEL_HEIGHT : top, PAD : PAD + tile]  # "0", above the first tile
    assert ink_height(label) >= 10  # pixels: a digit at 14 px (Pillow's default font: 8)
    title = grey[:top - LABEL_HEIGHT - PAD]
    assert ink_height(title) >= 13
    svg = info_figure(BUNDLED_DIR, tmp_path / "mnist.svg", per_class=3, zoom=1)
    assert svg_title(svg).startswith("mnist, train split:")


def test_the_tour_accuracy_chart_starts_at_zero():
    figure = lecture.accuracy_by_seed({"single layer": [0.91, 0.92], "MLP": [0.97, 0.975]})
    try:
        (axes,) = figure.get_axes()
        low, high = axes.get_ylim()
        assert low == 0 and high >= 100
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)

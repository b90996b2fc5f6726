"""Figures fit for a report: each can be read without explanation.

Weight pictures carry a colour bar and a scale per tile, tiles large enough to see and labels;
the montage and GIF say which row is which epoch; learning curves have labelled axes, a loss
panel per kind of loss and one legend outside the axes; the evaluation figure labels the
confusion matrix and explains its captions; predict's contact sheet shows each image beside
what the network saw, enlarged. Two small runs on the bundled MNIST are trained once.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nnctl.figures.curves
from nnctl.errors import RunDirError
from nnctl.figures.weights import BLUE, FRAME, RED, epoch_caption, inspect_weights, unit_names
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import data_paths
from nnctl.io.idx import read_examples
from nnctl.tasks.evaluate import evaluate_checkpoint
from nnctl.tasks.predict import predict, preprocessed_paths
from nnctl.tasks.train import train

QUICK = {"limit": 2000, "validation": 500}
READABLE_TILE = 4 * 28  # pixels a side of a 28x28 weight tile at the default zoom


def trained(tmp_path_factory, name: str, model: dict, training: dict):
    config = config_from_dict({"model": model, "training": {"epochs": 2, **training},
                               "data": QUICK}, "test")
    out = tmp_path_factory.mktemp(name) / name
    train(config, out)
    return out


@pytest.fixture(scope="module")
def delta_run(tmp_path_factory):
    """A single layer trained by the delta rule from all-zero weights (squared error)."""
    return trained(tmp_path_factory, "delta", {"hidden": [], "init": {"scheme": "zeros"}},
                   {"rule": "delta", "learning_rate": 0.0002})


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """A 784-16-10 network trained by backprop (cross-entropy), from random weights."""
    return trained(tmp_path_factory, "mlp", {"hidden": [16]}, {"learning_rate": 0.1})


@pytest.fixture(scope="module")
def delta_figures(delta_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("delta-figures")
    inspect_weights(delta_run, out)
    return out


@pytest.fixture(scope="module")
def mlp_figures(mlp_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("mlp-figures")
    inspect_weights(mlp_run, out)
    return out


def rgb(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB")).astype(int)


def has_colour_bar(pixels: np.ndarray, tolerance: int = 24) -> bool:
    """Some row runs from the colour map's blue end through white to its red end over at least
    150 pixels, its red channel never falling (a ramp, not a row through tiles)."""
    near_blue = np.abs(pixels - BLUE).max(axis=2) <= tolerance
    near_red = np.abs(pixels - RED).max(axis=2) <= tolerance
    for y in np.flatnonzero(near_blue.any(axis=1) & near_red.any(axis=1)):
        start = np.flatnonzero(near_blue[y])[0]
        end = np.flatnonzero(near_red[y])[-1]
        ramp = pixels[y, start : end + 1]
        if (end - start >= 150 and (np.diff(ramp[:, 0]) >= -tolerance // 2).all()
                and ramp[len(ramp) // 2].min() >= 230):
            return True
    return False


def tile_rows(pixels: np.ndarray, tiles_per_row: int, side: int) -> int:
    """Rows of framed weight tiles: pixel rows holding the top or bottom edge of at least
    `tiles_per_row` frames `side` + 2 pixels wide, two per row of tiles."""
    frame = (pixels == FRAME).all(axis=2)
    edges = 0
    for row in frame:
        padded = np.concatenate([[False], row, [False]]).astype(int)
        starts, ends = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
        edges += int(((ends - starts) == side + 2).sum() >= tiles_per_row)
    return edges // 2


# --------------------------------------------------------------------------- weights


@pytest.mark.slow
def test_weight_figures_have_a_colour_bar(delta_figures, mlp_figures):
    for path in (delta_figures / "templates.png", delta_figures / "template-3.png",
                 delta_figures / "weights-by-epoch.png", mlp_figures / "hidden-units.png",
                 mlp_figures / "weights-by-epoch.png"):
        assert has_colour_bar(rgb(Image.open(path))), path
    with Image.open(delta_figures / "weights-by-epoch.gif") as gif:
        for k in range(gif.n_frames):
            gif.seek(k)
            assert has_colour_bar(rgb(gif), tolerance=40), k  # 256 colours a frame


def test_a_figure_without_a_colour_bar_is_told_apart(delta_figures):
    """The check above fails for tiles alone: the templates cut below the colour bar."""
    pixels = rgb(Image.open(delta_figures / "templates.png"))
    assert not has_colour_bar(pixels[pixels.shape[0] // 3 :])


def test_templates_are_large_enough_to_read_in_a_document(delta_figures):
    with Image.open(delta_figures / "templates.png") as picture:
        width, height = picture.size
        pixels = rgb(picture)
    assert 500 <= width <= 1600 and height >= 2 * READABLE_TILE  # 5 a row: two rows of tiles
    assert tile_rows(pixels, 5, READABLE_TILE) == 2
    with Image.open(delta_figures / "template-0.png") as single:
        assert tile_rows(rgb(single), 1, 2 * READABLE_TILE) == 1  # the single template: x2


def test_hidden_units_are_tiles_ten_a_row(mlp_figures):
    pixels = rgb(Image.open(mlp_figures / "hidden-units.png"))
    assert tile_rows(pixels, 6, READABLE_TILE) == 2  # units 0-9, 10-15
    assert tile_rows(pixels, 10, READABLE_TILE) == 1
    assert pixels.shape[1] <= 1600


def test_tiles_are_named_by_digit_or_unit(delta_run, mlp_run):
    single, _ = load_checkpoint(delta_run / "checkpoints" / "best.npz")
    hidden, _ = load_checkpoint(mlp_run / "checkpoints" / "best.npz")
    assert unit_names(single, 10) == [f"digit {k}" for k in range(10)]
    assert unit_names(hidden, 3) == ["unit 0", "unit 1", "unit 2"]


def test_montage_has_a_row_per_epoch_and_explains_epoch_0(delta_run, delta_figures, mlp_run):
    pixels = rgb(Image.open(delta_figures / "weights-by-epoch.png"))
    assert tile_rows(pixels, 10, 3 * 28) == 3  # epochs 0, 1, 2 at zoom 3
    zero, _ = load_checkpoint(delta_run / "checkpoints" / "epoch-000.npz")
    random, _ = load_checkpoint(mlp_run / "checkpoints" / "epoch-000.npz")
    assert epoch_caption(0, zero.weights[0]) == "epoch 0:\ninitial weights\n(all zero)"
    assert epoch_caption(0, random.weights[0]) == "epoch 0:\ninitial weights"
    assert epoch_caption(2, random.weights[0], " ", last=2) == "epoch 2 of 2"
    with Image.open(delta_figures / "weights-by-epoch.gif") as gif:
        sizes = set()
        for k in range(gif.n_frames):
            gif.seek(k)
            sizes.add(gif.size)
        assert gif.n_frames == 3 and len(sizes) == 1


# --------------------------------------------------------------------------- learning curves


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib Figures `nnctl.figures.curves` saves, kept open for inspection."""
    figures = []
    monkeypatch.setattr(nnctl.figures.curves, "save_figure",
                        lambda figure, plt, out: figures.append(figure) or out)
    return figures


def legends(figure) -> list:
    return [axes.get_legend() for axes in figure.get_axes() if axes.get_legend()] + figure.legends


def test_learning_curves_have_one_legend_outside_the_axes_with_the_labels(delta_run, mlp_run,
                                                                           drawn, tmp_path):
    labels = ["rule=delta lr=0.0002", "rule=backprop lr=0.1"]
    nnctl.figures.curves.learning_curves([delta_run, mlp_run], tmp_path / "c.png", labels=labels)
    (figure,) = drawn
    (legend,) = legends(figure)
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[:2] == labels and "train (solid)" in texts and "validation (dashed)" in texts
    figure.canvas.draw()
    box = legend.get_window_extent()
    for axes in figure.get_axes():
        if axes.axison:
            assert not box.overlaps(axes.get_window_extent()), axes.get_title()


def test_learning_curves_label_their_axes_and_split_losses_by_kind(delta_run, mlp_run, drawn,
                                                                   tmp_path):
    nnctl.figures.curves.learning_curves([delta_run, mlp_run], tmp_path / "c.png")
    (figure,) = drawn
    panels = [axes for axes in figure.get_axes() if axes.axison]
    assert [axes.get_title() for axes in panels] == [
        "accuracy", "loss: squared error ½‖a − y‖²", "loss: cross-entropy −Σ y·log a"]
    for axes in panels:
        assert axes.get_xlabel() == "epoch" and axes.get_ylabel()
        assert len(axes.get_lines()) == (4 if axes.get_title() == "accuracy" else 2)
    assert [t.get_text() for t in legends(figure)[0].get_texts()][:2] == ["delta", "mlp"]


def test_cli_plot_names_runs_by_their_names(run, delta_run, mlp_run, drawn, tmp_path):
    """Many keys differ between these runs: their names alone (tests/cli/test_plot_labels.py)."""
    result = run("plot", delta_run, mlp_run, "--out", tmp_path / "c.png")
    assert result.exit_code == 0, result.stderr
    texts = [t.get_text() for t in legends(drawn[0])[0].get_texts()]
    assert texts[:2] == ["delta", "mlp"]


# --------------------------------------------------------------------------- evaluation


def test_evaluation_figure_labels_the_matrix_and_explains_the_captions(mlp_run, drawn, tmp_path):
    result = evaluate_checkpoint(mlp_run, figure=tmp_path / "e.png")
    (figure,) = drawn
    matrix = next(axes for axes in figure.get_axes() if axes.get_xlabel() == "predicted digit")
    assert matrix.get_ylabel() == "true digit" and "Confusion matrix" in matrix.get_title()
    counts = {t.get_text() for t in matrix.texts}
    C = np.array(result["confusion_matrix"])
    assert {str(C[k, k]) for k in range(10)} <= counts
    assert any(axes.get_ylabel().startswith("examples") for axes in figure.get_axes())  # colours
    first = result["worst"][0]
    captions = [axes.get_title() for axes in figure.get_axes() if axes.get_title().startswith("#")]
    assert captions[0] == (f"#{first['index']}\npredicted {first['predicted']} "
                           f"({first['output']:.2f})\ntrue {first['true']} "
                           f"({first['true_output']:.2f})")
    explanations = [sub._supxlabel.get_text() for sub in figure.subfigs if sub._supxlabel]
    assert any("How to read a caption" in text and f"#{first['index']} = the image's index"
               in text for text in explanations)


# --------------------------------------------------------------------------- contact sheet


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    paths = data_paths(DataConfig())
    images, _ = read_examples(paths["test_images"], paths["test_labels"])
    folder = tmp_path_factory.mktemp("digits")
    for i in range(3):
        Image.fromarray(255 - images[i]).resize((84, 84)).save(folder / f"digit-{i}.png")
    return sorted(folder.iterdir())


def find(block: np.ndarray, picture: np.ndarray) -> int | None:
    """The row at which `block` (grey) appears in `picture` (grey), or None."""
    first = block[0].tobytes()
    for y in range(picture.shape[0] - block.shape[0] + 1):
        x = picture[y].tobytes().find(first)
        while x >= 0:
            if x % picture.itemsize == 0:
                left = x // picture.itemsize
                if (picture[y : y + len(block), left : left + block.shape[1]] == block).all():
                    return y
            x = picture[y].tobytes().find(first, x + 1)
    return None


def test_contact_sheet_has_a_row_per_image_with_what_the_network_saw_enlarged(
        mlp_run, digit_files, tmp_path):
    seen = tmp_path / "seen"
    results = predict(mlp_run, digit_files, save_preprocessed=seen)
    with Image.open(seen / "contact-sheet.png") as sheet:
        pixels = np.asarray(sheet.convert("L"))
    rows = []
    for result in results:
        with Image.open(result["preprocessed"]) as saved:
            enlarged = np.asarray(saved.resize((READABLE_TILE, READABLE_TILE), Image.NEAREST))
        rows.append(find(enlarged, pixels))
    assert None not in rows and rows == sorted(rows) and len(set(rows)) == len(digit_files)


def test_contact_sheet_is_never_replaced_without_force(mlp_run, digit_files, tmp_path, run):
    seen = tmp_path / "seen"
    seen.mkdir()
    (seen / "contact-sheet.png").write_bytes(b"the user's own file")
    with pytest.raises(RunDirError, match="contact-sheet.png: already exists; pass --force"):
        predict(mlp_run, digit_files, save_preprocessed=seen)
    assert sorted(p.name for p in seen.iterdir()) == ["contact-sheet.png"]  # nothing written
    forced = run("predict", mlp_run, *digit_files, "--save-preprocessed", seen, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout.splitlines()[-1] == f"contact sheet: {seen / 'contact-sheet.png'}"
    with Image.open(seen / "contact-sheet.png") as sheet:
        assert sheet.format == "PNG" and sheet.size[1] >= len(digit_files) * READABLE_TILE


def test_an_input_named_like_the_contact_sheet_gets_another_name(tmp_path):
    outs = preprocessed_paths([tmp_path / "contact-sheet"], tmp_path / "seen", [])
    assert [p.name for p in outs] == ["contact-sheet-2.png"]

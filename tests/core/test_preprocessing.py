"""Network inputs from pixels (nnctl.core.preprocessing): deskewing (data.deskew), the
moment-based shear; scaling then deskewing as a preprocessing record says; and evaluate / predict
making their inputs as a checkpoint's record says (the record itself: tests/io/test_examples.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnctl.core.digits import mnist_image
from nnctl.core.preprocessing import apply_preprocessing, deskew
from nnctl.errors import DataError
from nnctl.io.checkpoint import load_checkpoint, save_checkpoint
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import (
    PREPROCESSING,
    Dataset,
    data_paths,
)
from nnctl.io.idx import read_examples
from nnctl.io.images import grey_levels, lanczos, read_image
from nnctl.tasks.evaluate import evaluate, evaluate_checkpoint
from nnctl.tasks.predict import predict
from nnctl.tasks.train import train

DESKEWED = {**PREPROCESSING, "deskew": True}
SHAPE = (28, 28)


def moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre of mass (x-bar, y-bar) and cov(x, y) of each (H, W) image, x across, y down."""
    images = images.reshape(len(images), *SHAPE).astype(np.float64)
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    mass = images.sum(axis=(1, 2))
    x_bar = (images * x).sum(axis=(1, 2)) / mass
    y_bar = (images * y).sum(axis=(1, 2)) / mass
    dx, dy = x - x_bar[:, None, None], y - y_bar[:, None, None]
    return x_bar, y_bar, (images * dx * dy).sum(axis=(1, 2)) / mass


def skew(images: np.ndarray) -> np.ndarray:
    """alpha = cov(x, y) / var(y) of each image."""
    images = images.reshape(len(images), *SHAPE).astype(np.float64)
    y = np.arange(SHAPE[0])[None, :, None]
    rows = images.sum(axis=2, keepdims=True)
    y_bar = (rows * y).sum(axis=(1, 2)) / rows.sum(axis=(1, 2))
    var_y = (images * (y - y_bar[:, None, None]) ** 2).sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    return moments(images)[2] / var_y


def slanted_bar(slope: float) -> np.ndarray:
    """A bar 3 pixels wide from row 4 to row 23 whose centre is at x = 14 + slope (y - 13.5)."""
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    centre = 14 + slope * (y - 13.5)
    bar = np.clip(1 - np.abs(x - centre) / 1.5, 0, None) * ((y >= 4) & (y <= 23))
    return bar.astype(np.float32)


@pytest.fixture(scope="module")
def mnist_test():
    """The first 2,000 MNIST test digits as pixel / 255, float32 (n, 784)."""
    paths = data_paths(DataConfig())
    images, labels = read_examples(paths["test_images"], paths["test_labels"])
    return images[:2000].reshape(2000, -1).astype(np.float32) / np.float32(255), labels[:2000]


# --------------------------------------------------------------------------- the shear


@pytest.mark.parametrize("slope", [0.5, -0.3, 0.1])
def test_a_slanted_bar_becomes_vertical(slope):
    bar = slanted_bar(slope)[None]
    upright = deskew(bar, SHAPE)
    assert abs(moments(bar)[2][0]) > 0.1 * abs(slope)
    assert abs(moments(upright)[2][0]) < 1e-4
    rows = upright[0][4:24]
    centres = (rows * np.arange(SHAPE[1])).sum(axis=1) / rows.sum(axis=1)
    # every row centred on the same column (but for the sampling of the bar's profile: 0.03)
    np.testing.assert_allclose(centres, 14, atol=0.05)


def test_an_upright_bar_is_unchanged():
    symmetric = slanted_bar(0.0)[None]  # cov(x, y) = 0 but for rounding: nothing to shear
    np.testing.assert_allclose(deskew(symmetric, SHAPE), symmetric, atol=1e-5)


def test_upright_mnist_digits_change_little_slanted_ones_much(mnist_test):
    x, _ = mnist_test
    alpha = skew(x)
    change = np.abs(deskew(x, SHAPE) - x).sum(axis=1) / x.sum(axis=1)  # of the ink
    upright, slanted = np.abs(alpha) < 0.01, np.abs(alpha) > 0.3
    assert upright.sum() > 20 and slanted.sum() > 100
    assert change[upright].max() < 0.06  # measured 0.039
    assert change[slanted].min() > 0.2  # measured 0.29
    assert np.abs(skew(deskew(x, SHAPE))).max() < 0.01  # every one upright (measured 0.0019)


def test_blank_stays_blank_and_one_row_of_ink_is_kept():
    blank = np.zeros((2, *SHAPE), dtype=np.float32)
    np.testing.assert_array_equal(deskew(blank, SHAPE), blank)
    line = np.zeros((1, *SHAPE), dtype=np.float64)
    line[0, 10, 5:20] = np.linspace(0.1, 1, 15)  # var(y) = 0: no skew defined
    np.testing.assert_array_equal(deskew(line, SHAPE), line)


def test_the_centre_of_mass_is_kept(mnist_test):
    x, _ = mnist_test
    before, after = moments(x), moments(deskew(x, SHAPE))
    assert np.abs(after[0] - before[0]).max() < 0.1  # x-bar, in pixels (measured 0.019)
    assert np.abs(after[1] - before[1]).max() < 0.1  # y-bar (measured 0.0037)
    assert np.median(np.abs(after[0] - before[0])) < 1e-4


def test_deskew_is_the_row_shear_with_linear_interpolation_and_zeros_outside():
    """Against a row-by-row reference (np.interp), on random images of another shape, with skews
    large enough to push ink out of the image."""
    rng = np.random.default_rng(0)
    shape = (9, 13)
    images = rng.uniform(size=(50, *shape)) * (rng.uniform(size=(50, *shape)) < 0.3)
    out = deskew(images, shape)
    y, x = np.mgrid[: shape[0], : shape[1]]
    for image, got in zip(images, out):
        mass = image.sum()
        x_bar, y_bar = (image * x).sum() / mass, (image * y).sum() / mass
        alpha = ((image * (x - x_bar) * (y - y_bar)).sum()
                 / (image * (y - y_bar) ** 2).sum())
        columns = np.arange(-1, shape[1] + 1)
        expected = [np.interp(np.arange(shape[1]) + alpha * (r - y_bar), columns,
                              np.r_[0, image[r], 0]) for r in range(shape[0])]
        np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_in_float_out_of_the_same_shape(dtype, mnist_test):
    rows = mnist_test[0][:10].astype(dtype)
    assert deskew(rows, SHAPE).shape == (10, 784) and deskew(rows, SHAPE).dtype == dtype
    images = rows.reshape(10, *SHAPE)
    np.testing.assert_array_equal(deskew(images, SHAPE), deskew(rows, SHAPE).reshape(10, *SHAPE))


# --------------------------------------------------------------------------- scale, then deskew


def test_apply_preprocessing_scales_then_deskews():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (5, *SHAPE)).astype(np.uint8)
    scaled = pixels.reshape(5, -1).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(apply_preprocessing(pixels, PREPROCESSING, SHAPE, "float32"),
                                  scaled)
    np.testing.assert_array_equal(apply_preprocessing(pixels, DESKEWED, SHAPE, "float32"),
                                  deskew(scaled, SHAPE))
    with pytest.raises(DataError, match="2-D images"):
        apply_preprocessing(pixels.reshape(5, -1), DESKEWED, (784,), "float32")


# --------------------------------------------------------------------------- evaluate, predict


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A single layer trained on deskewed digits, saved with and without "deskew" in its record."""
    config = config_from_dict(
        {"model": {"hidden": []}, "training": {"epochs": 2},
         "data": {"limit": 3000, "validation": 500, "deskew": True}}, "test")
    root = tmp_path_factory.mktemp("deskew")
    train(config, root / "run")
    network, meta = load_checkpoint(root / "run" / "checkpoints" / "best.npz")
    paths = {}
    for name, record in (("deskewed", DESKEWED), ("plain", PREPROCESSING)):
        paths[name] = root / f"{name}.npz"
        save_checkpoint(paths[name], network, dict(meta, preprocessing=record))
    return network, paths


@pytest.mark.slow
def test_evaluate_applies_the_recorded_deskew(checkpoints):
    network, paths = checkpoints
    test_paths = data_paths(DataConfig())
    images, labels = read_examples(test_paths["test_images"], test_paths["test_labels"])
    scaled = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    for name, x in (("deskewed", deskew(scaled, SHAPE)), ("plain", scaled)):
        expected = evaluate(network, Dataset(x, labels, SHAPE, "test"), "cross_entropy",
                            "backprop")
        for given in ({}, {"images": test_paths["test_images"],
                           "labels": test_paths["test_labels"]}):
            result = evaluate_checkpoint(paths[name], **given)
            assert result["accuracy"] == expected["accuracy"], (name, given)
            assert result["confusion_matrix"] == expected["confusion_matrix"]
            assert result["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    deskewed, plain = (evaluate_checkpoint(paths[name]) for name in ("deskewed", "plain"))
    assert deskewed["confusion_matrix"] != plain["confusion_matrix"]


def test_predict_applies_the_recorded_deskew(checkpoints, mnist_test, tmp_path):
    network, paths = checkpoints
    x, _ = mnist_test
    slanted = np.flatnonzero(np.abs(skew(x)) > 0.3)[:10]
    files = []
    for i in slanted:
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(np.rint(x[i].reshape(SHAPE) * 255).astype(np.uint8)).save(files[-1])
    prepared = np.stack([mnist_image(grey_levels(read_image(f)), SHAPE, lanczos) for f in files])
    scaled = prepared.reshape(len(files), -1).astype(np.float32) / np.float32(255)
    for name, inputs in (("deskewed", deskew(scaled, SHAPE)), ("plain", scaled)):
        results = predict(paths[name], files, save_preprocessed=tmp_path / name)
        a = network.forward(inputs)
        for result, row, seen in zip(results, a, inputs):
            assert result["prediction"] == row.argmax()
            assert result["probability"] == pytest.approx(float(row.max()), rel=1e-5)
            with Image.open(result["preprocessed"]) as saved:  # what the network saw
                np.testing.assert_array_equal(
                    np.asarray(saved), np.rint(seen.reshape(SHAPE) * 255.0).astype(np.uint8))

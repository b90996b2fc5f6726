"""Making a picture of a digit an MNIST image: polarity, contrast, bounding box, the 20x20 box,
the centre of mass. Real MNIST test digits must come back nearly unchanged; files of them as users
bring them are in tests/tasks/test_predict.py."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE

from nnctl.core.digits import box_shape, mnist_image
from nnctl.errors import DataError
from nnctl.io.images import lanczos

N = SAMPLE  # the MNIST test digits of conftest's `digits`


def mnist(pixels: np.ndarray, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """The MNIST image of grey levels given as an array, scaled as `nnctl predict` scales."""
    return mnist_image(pixels.astype(np.float32), shape, lanczos)


def test_an_mnist_digit_comes_back_nearly_unchanged(digits):
    """MNIST digits are already in their 20x20 box, centred by mass: re-preprocessing is close to
    the identity (on the 10,000 test digits: 92.7% within one grey level everywhere, 99.0% within
    13 levels; on these 200: 93.5% and 98.5%; the others lose faint edge pixels and are rescaled
    a little). Every prediction stays the same (tests/tasks/test_predict.py's
    test_files_are_classified_like_the_raw_arrays)."""
    images, _ = digits
    worst = np.array([np.abs(mnist(p) - p).max() for p in images])
    assert (worst <= 1.0 + 1e-4).mean() >= 0.85
    assert (worst <= 13.0).mean() >= 0.96


def test_the_digit_fills_the_box_and_is_centred_by_mass(digits):
    for pixels in digits[0][:30]:
        large = np.kron(255 - pixels, np.ones((4, 3), np.uint8))  # black on white, 112x84
        field = np.full((160, 200), 255, np.uint8)
        field[20:132, 50:134] = large
        x = mnist(field)
        assert x.shape == (28, 28) and x.dtype == np.float64
        assert x.min() >= 0.0 and 0.8 * 255 <= x.max() <= 255.0
        rows, cols = np.flatnonzero(x.any(axis=1)), np.flatnonzero(x.any(axis=0))
        size = (rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
        assert max(size) == 20 and min(size) <= 20, size
        mass = x.sum()
        cy, cx = (x.sum(axis=1) @ np.arange(28)) / mass, (x.sum(axis=0) @ np.arange(28)) / mass
        assert abs(cy - 14) <= 0.5 + 1e-6 and abs(cx - 14) <= 0.5 + 1e-6, (cy, cx)


def test_faint_specks_away_from_the_strokes_are_not_part_of_the_digit(digits):
    """JPEG ringing, dust, paper texture: faint ink more than a pixel away from strong ink does not
    widen the bounding box (which would shrink and move the digit)."""
    pixels = digits[0][7]
    speckled = pixels.copy()
    speckled[[1, 2, 25, 26], [2, 26, 1, 25]] = 40  # above INK_THRESHOLD, below STRONG_INK
    np.testing.assert_array_equal(mnist(speckled), mnist(pixels))


def test_a_digit_heavy_on_one_side_stays_inside_the_field():
    """The centre-of-mass shift is clipped: a lopsided shape is not cut off at the field's edge."""
    pixels = np.zeros((80, 380), np.uint8)
    pixels[10:70, 10:70] = 255  # a heavy square...
    pixels[40:43, 70:370] = 255  # ...with a long thin tail: 60 x 360 -> 3 x 20, mass far left
    x = mnist(pixels)
    cols = np.flatnonzero(x.any(axis=0))
    assert (cols[0], cols[-1]) == (8, 27)  # centring by mass would put it at columns 10..29
    assert (x.sum(axis=0) @ np.arange(28)) / x.sum() < 13.0


def test_blank_images_are_errors():
    for colour in (0, 255, 137):
        with pytest.raises(DataError, match="blank"):
            mnist(np.full((30, 40), colour, np.uint8))
    rng = np.random.default_rng(0)
    noisy_paper = (230 + rng.integers(-6, 7, (50, 50))).astype(np.uint8)
    with pytest.raises(DataError, match="blank"):
        mnist(noisy_paper)


def test_the_box_is_in_proportion_to_the_field():
    assert box_shape((28, 28)) == (20, 20)
    assert box_shape((8, 6)) == (6, 4)
    assert box_shape((1, 2)) == (1, 1)


def test_the_resize_is_the_callers():
    """mnist_image scales through the function it is given, with the box's shape."""
    asked = []

    def nearest(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        asked.append((pixels.shape, shape))
        rows = np.arange(shape[0]) * pixels.shape[0] // shape[0]
        cols = np.arange(shape[1]) * pixels.shape[1] // shape[1]
        return pixels[rows][:, cols]

    square = np.zeros((50, 50))
    square[5:45, 22:28] = 255.0  # a 40 x 6 bar -> 20 x 3 (a stroke as wide as MNIST's)
    x = mnist_image(square, (28, 28), nearest)
    assert asked == [((40, 6), (20, 3))]
    assert x.sum() == 255.0 * 60 and x[5:25, 13:16].min() == 255.0  # centre of mass (14, 14)

"""The MNIST-style preparation of a digit under what photos and scans do to it: uneven light,
transparency in either polarity, low contrast, blur, heavy strokes. Each picture of an MNIST test
digit so spoiled must be prepared nearly as the clean picture of it is."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnctl.core.digits import mnist_image, stroke_width
from nnctl.io.images import grey_levels, lanczos

N = 12  # MNIST test digits tried per kind of damage


def prepared(grey: np.ndarray) -> np.ndarray:
    return mnist_image(np.asarray(grey, np.float32), (28, 28), lanczos)


def ink_of(pixels: np.ndarray) -> np.ndarray:
    """An MNIST digit (0..255, white on black) as ink 0..1 on a 112 x 112 page, 4 times larger."""
    large = np.asarray(Image.fromarray(pixels).resize((84, 84), Image.Resampling.BILINEAR), float)
    page = np.zeros((112, 112))
    page[14:98, 14:98] = large / 255.0
    return page


def shadow(shape: tuple[int, int], low: float) -> np.ndarray:
    """Light falling from 1 at the left to `low` at the right (a hand's shadow, a lamp's fall)."""
    return np.broadcast_to(np.linspace(1.0, low, shape[1]), shape)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    r = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    rows = np.apply_along_axis(np.convolve, 1, np.pad(pixels, r, mode="edge"), kernel, "valid")
    return np.apply_along_axis(np.convolve, 0, rows, kernel, "valid")


def rgba(ink: np.ndarray, colour: int) -> Image.Image:
    """The digit drawn in `colour` on a transparent field: opacity = ink."""
    pixels = np.zeros(ink.shape + (4,), np.uint8)
    pixels[..., :3] = colour
    pixels[..., 3] = np.rint(255 * ink).astype(np.uint8)
    return Image.fromarray(pixels, "RGBA")


SPOILED = {
    # dark pencil on white paper, the light falling to a quarter across the page
    "shadow": lambda ink: (235 - 200 * ink) * shadow(ink.shape, 0.25),
    # the same in a dark-mode photo: light chalk on a dark board, the light falling to a half
    "shadow, light ink": lambda ink: (30 + 200 * ink) * shadow(ink.shape, 0.5),
    # grey pencil on grey paper: 28 grey levels apart
    "low contrast": lambda ink: 170 - 28 * ink,
    # out of focus
    "blur": lambda ink: blur(255 - 255 * ink, 3.0),
    # white strokes on a transparent PNG (a dark-mode drawing app), read as predict reads it
    "white on transparent": lambda ink: grey_levels(rgba(ink, 255)),
    "black on transparent": lambda ink: grey_levels(rgba(ink, 0)),
}


@pytest.mark.parametrize("damage", list(SPOILED))
def test_a_spoiled_picture_is_prepared_like_the_clean_one(digits, damage):
    """Correlation with the clean picture's preparation: above 0.9 on average, 0.75 each."""
    likeness = [correlation(prepared(SPOILED[damage](ink)), prepared(255 - 255 * ink))
                for ink in map(ink_of, digits[0][:N])]
    assert np.mean(likeness) > 0.9 and min(likeness) > 0.75, likeness


def test_heavy_strokes_are_thinned_to_mnist_widths(digits):
    """A marker's strokes (the digit's grown by 2.5 pixels of MNIST's box on each side) come out
    about as wide as MNIST's (1.2 to 2.9 pixels: the 5th and 95th percentiles of stroke_width,
    median 1.8) and like the digit."""
    widths, likeness = [], []
    for pixels in digits[0][:N]:
        ink = ink_of(pixels)
        heavy = np.lib.stride_tricks.sliding_window_view(np.pad(ink, 5), (11, 11)).max(axis=(2, 3))
        x = prepared(255 - 255 * heavy)
        widths.append(stroke_width(x))
        likeness.append(correlation(x, prepared(255 - 255 * ink)))
    assert np.mean(widths) <= 3.0 and np.mean(likeness) > 0.8, (widths, likeness)


def test_the_paper_under_a_shadow_is_not_ink():
    """A page with nothing on it but a shadow across it is blank, not a digit."""
    page = 230 * shadow((100, 120), 0.3)
    with pytest.raises(Exception, match="blank"):
        prepared(page)

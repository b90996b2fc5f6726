"""A picture of one digit made into an MNIST image, the way MNIST itself was made (LeCun et al.).

Grey levels, white digit on a black field, the digit's bounding box scaled to fit a 20x20 box
keeping its aspect ratio (for H x W images, a round(20/28 H) x round(20/28 W) box), then pasted
into the H x W field so that its centre of mass sits at the field's centre. numpy only: the
scaling itself is given by the caller (`nnctl.io.images.lanczos`, Pillow's Lanczos filter: its
float32 numbers are the ones `nnctl predict` has always fed the network).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nnctl.errors import DataError

# MNIST's digits fill a 20x20 box inside the 28x28 field.
BOX_FRACTION = 20 / 28
# A border median above this (on 0..255) means a light background: the image is inverted.
LIGHT_BACKGROUND = 127
# Ink = how much brighter than the background (after inversion) a pixel is, on 0..255. Below
# MIN_CONTRAST at its strongest, the image is blank. The digit's bounding box holds the pixels with
# more than INK_THRESHOLD of the strongest ink that lie within NEAR pixels of strong ink (more
# than STRONG_INK of the strongest): it keeps most of MNIST's faint anti-aliased edges, so an MNIST
# digit comes back nearly unchanged, and drops JPEG ringing and paper texture away from the
# strokes. (Measured on the 10,000 MNIST test digits and on JPEG copies of them: see
# tests/core/test_digits.py and tests/tasks/test_predict.py.)
MIN_CONTRAST = 32
INK_THRESHOLD = 0.05
STRONG_INK = 0.3
NEAR = 1

# resize(pixels, (height, width)) -> the pixels scaled to that shape (float, same scale)
Resize = Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def box_shape(image_shape: tuple[int, int]) -> tuple[int, int]:
    """The box the digit is scaled to fit: 20x20 in a 28x28 field, in proportion for others."""
    return tuple(max(1, round(BOX_FRACTION * d)) for d in image_shape)


def mnist_image(grey: np.ndarray, image_shape: tuple[int, int], resize: Resize) -> np.ndarray:
    """Grey levels of a picture of a digit (height, width) on 0..255, 0 black -> an MNIST image
    of it: float64 (H, W) with values in [0, 255].

    As MNIST was made: inverted when the background (the median of the outermost rows and
    columns) is light, so the digit is white on black; the background level subtracted and the
    strongest ink stretched to 255 (a photo's grey paper and grey pencil become MNIST's black
    and white); cropped to the digit's bounding box; scaled by `resize` to fit the box of
    `box_shape`, keeping the aspect ratio; pasted into an H x W field with its centre of mass at
    (H/2, W/2) in pixel-index coordinates, where MNIST's are (shifted by whole pixels, clipped so
    the digit stays inside). A digit already prepared like MNIST comes back nearly unchanged.
    A blank image (no pixel MIN_CONTRAST above the background) is a DataError.
    """
    height, width = (int(d) for d in image_shape)
    digit = _digit_ink(grey)
    box_h, box_w = box_shape((height, width))
    h, w = digit.shape
    scale = min(box_h / h, box_w / w)
    new_h = min(box_h, max(1, round(h * scale)))
    new_w = min(box_w, max(1, round(w * scale)))
    if (new_h, new_w) != (h, w):
        resized = np.asarray(resize(digit, (new_h, new_w)), dtype=np.float64)
        digit = np.clip(resized, 0.0, 255.0)  # Lanczos rings below 0
    return _centred(digit, (height, width))


def _digit_ink(grey: np.ndarray) -> np.ndarray:
    """The ink of the digit (float64, 0..255, white on black), cropped to its bounding box."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > LIGHT_BACKGROUND:
        grey, border = 255.0 - grey, 255.0 - border
    ink = np.clip(grey - np.median(border), 0.0, None)
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise DataError(
            f"no digit found: the image is blank (no pixel differs from the background by "
            f"{MIN_CONTRAST} grey levels or more)"
        )
    ink *= 255.0 / strongest
    strong = ink > 255.0 * STRONG_INK
    near = np.zeros_like(strong)  # strong ink grown by NEAR pixels in every direction
    padded = np.pad(strong, NEAR)
    for dy in range(2 * NEAR + 1):
        for dx in range(2 * NEAR + 1):
            near |= padded[dy : dy + strong.shape[0], dx : dx + strong.shape[1]]
    inked = (ink > 255.0 * INK_THRESHOLD) & near
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64)


def _centred(digit: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """`digit` pasted into a field of `image_shape` with its centre of mass at the centre."""
    height, width = image_shape
    new_h, new_w = digit.shape
    mass = digit.sum()
    if mass <= 0.0:  # cannot happen after the checks above; guards the division all the same
        raise DataError("no digit found: nothing left after scaling")
    cy = float((digit.sum(axis=1) * np.arange(new_h)).sum() / mass)
    cx = float((digit.sum(axis=0) * np.arange(new_w)).sum() / mass)
    top = int(np.clip(np.floor(height / 2 - cy + 0.5), 0, height - new_h))
    left = int(np.clip(np.floor(width / 2 - cx + 0.5), 0, width - new_w))
    field = np.zeros((height, width), dtype=np.float64)
    field[top : top + new_h, left : left + new_w] = digit
    return np.clip(field, 0.0, 255.0)  # no 255.00002 from rounding

"""Network inputs from pixels: scaled (pixel / 255), then deskewed if asked (each digit sheared
upright by its moments). numpy only."""

from __future__ import annotations

import numpy as np

from nnctl.errors import DataError

DESKEW_BATCH = 10_000  # images deskewed at a time: bounds the memory of the index arrays


def apply_preprocessing(pixels: np.ndarray, preprocessing: dict,
                        image_shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Network inputs, one flattened row per image, from pixels (n, *image_shape) or (n, size)
    on 0..255: scaled by 1 / divide_by, then deskewed if the record says `"deskew": true`."""
    x = pixels.reshape(len(pixels), -1).astype(dtype)
    x /= np.asarray(preprocessing["divide_by"], dtype=dtype)
    if preprocessing.get("deskew", False):
        if len(image_shape) != 2:
            raise DataError(f"deskewing needs 2-D images, these are of shape "
                            f"{'x'.join(map(str, image_shape))}")
        for i in range(0, len(x), DESKEW_BATCH):
            x[i : i + DESKEW_BATCH] = deskew(x[i : i + DESKEW_BATCH], image_shape)
    return x


def deskew(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Each image sheared so that its principal axis is vertical, its centre of mass kept.

    With the image's centre of mass (x-bar, y-bar) and second moments (x across, y down), the
    skew is alpha = cov(x, y) / var(y); output row y is input row y read at x + alpha (y - y-bar),
    interpolated bilinearly (along the row: the points read lie on it), 0 outside (LeCun et al.'s
    deskewing). A blank image, or one whose ink lies in one row, is left as it is. `images` are
    (n, H, W) or (n, H * W) floats; the result has their shape and dtype.
    """
    height, width = image_shape
    ink = images.reshape(len(images), height, width)
    y, x = np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64)
    rows = ink.sum(axis=2).astype(np.float64)  # (n, H): the ink of each row
    mass = rows.sum(axis=1)
    present = mass > 0
    mass = np.where(present, mass, 1.0)
    y_bar = rows @ y / mass
    x_bar = ink.sum(axis=1).astype(np.float64) @ x / mass
    var_y = rows @ (y * y) / mass - y_bar**2
    x_by_row = (ink @ x.astype(ink.dtype)).astype(np.float64)  # (n, H): sum over x of x ink
    cov = x_by_row @ y / mass - x_bar * y_bar
    sheared = present & (var_y > 1e-9 * height * height)
    alpha = np.divide(cov, var_y, out=np.zeros_like(cov), where=sheared)
    shift = alpha[:, None] * (y - y_bar[:, None])  # (n, H): where each row is read from
    whole = np.floor(shift)
    frac = (shift - whole).astype(ink.dtype)[:, :, None]
    # column c of `framed` is column c - 2 of the image: columns -2, -1 and W are 0
    framed = np.pad(ink, ((0, 0), (0, 0), (2, 1)))
    left = (np.arange(width) + whole.astype(np.intp)[:, :, None]).clip(-2, width) + 2
    right = (left + 1).clip(max=width + 2)  # (n, H, W) each: the columns read, in `framed`
    out = (1 - frac) * np.take_along_axis(framed, left, axis=2)
    out += frac * np.take_along_axis(framed, right, axis=2)
    return out.reshape(images.shape)


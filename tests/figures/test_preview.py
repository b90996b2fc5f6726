"""figures/preview.py: the augment preview's picture, a row per digit."""

from __future__ import annotations

import numpy as np

from nnctl.figures.preview import preview_figure

SHAPE, ZOOM = (28, 20), 3


def figure(rows: int, variants: int):
    rng = np.random.default_rng(0)
    pixels = SHAPE[0] * SHAPE[1]
    originals = rng.uniform(size=(rows, pixels))
    distorted = rng.uniform(size=(rows, variants, pixels))
    return preview_figure(originals, distorted, [f"digit {k}" for k in range(rows)], SHAPE,
                          "a title", zoom=ZOOM)


def test_a_row_per_image_and_a_column_per_variant_enlarged_with_square_pixels():
    small = figure(2, 8)
    assert small.mode == "RGB" and small.width >= 9 * SHAPE[1] * ZOOM
    wider, taller = figure(2, 9), figure(4, 8)
    assert wider.width - small.width >= SHAPE[1] * ZOOM and wider.height == small.height
    assert taller.height - small.height >= 2 * SHAPE[0] * ZOOM and taller.width == small.width

"""The compiled twin of distortions.distort: the same resampling, one loop over images and pixels.

The affine maps and the choice of elastic field are prepared by core/distortions.py's own functions
(`resampling_maps`, `field_choice`, a few numpy operations per chunk); the loop reads the
displacement of each pixel straight from the bank, the symmetry of the field being a start and
two strides into it rather than a flipped copy. Every number is computed as distortions.distort
computes it, in float64, so the two agree to rounding (tests/core/test_distortions.py).

numba is imported here only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from nnctl.core.distortions import field_choice, resampling_maps


def distort(images: np.ndarray, params: dict[str, np.ndarray], bank: np.ndarray,
            image_shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """As distortions.distort (images (n, H*W) float32 or float64, C-contiguous), into `out` if
    given (the same shape and dtype, not `images`)."""
    height, width = image_shape
    images = np.ascontiguousarray(images)
    if out is None:
        out = np.empty_like(images)
    index, symmetry, row, col = field_choice(params["field"], bank, image_shape)
    flat_bank = np.ascontiguousarray(bank).reshape(len(bank), math.prod(bank.shape[1:]))
    _distort(images, out, resampling_maps(params, image_shape), index, symmetry, row, col,
             flat_bank, bank.shape[1], bank.shape[2], height, width)
    return out


@njit(cache=True, inline="always")
def _pixel(images, e, i, j, height, width):
    if 0 <= i < height and 0 <= j < width:
        return np.float64(images[e, i * width + j])
    return 0.0


@njit(cache=True, nogil=True)  # the GIL is free while it runs: chunks are prepared beside training
def _distort(images, out, maps, index, symmetry, row, col, bank, bank_rows, bank_cols,
             height, width):
    elastic = bank.shape[0] > 0
    for e in range(images.shape[0]):
        a, b, m0 = maps[e, 0, 0], maps[e, 0, 1], maps[e, 0, 2]
        c, d, m1 = maps[e, 1, 0], maps[e, 1, 1], maps[e, 1, 2]
        # pixel (i, j)'s displacement: bank[k, 2 p + (0 | 1)], p = start + i step_i + j step_j
        k, s = index[e], symmetry[e]
        transposed = s & 4 != 0
        field_rows = bank_cols if transposed else bank_rows  # of the transposed field
        field_cols = bank_rows if transposed else bank_cols
        r0, ri = (field_rows - 1 - row[e], -1) if s & 2 else (row[e], 1)
        c0, cj = (field_cols - 1 - col[e], -1) if s & 1 else (col[e], 1)
        if transposed:  # the field's (r, c) is the bank's (c, r), its x the bank's y
            start, step_i, step_j = c0 * bank_cols + r0, ri, cj * bank_cols
            x_is, y_is = 1, 0
        else:
            start, step_i, step_j = r0 * bank_cols + c0, ri * bank_cols, cj
            x_is, y_is = 0, 1
        sign_x = -1.0 if s & 1 else 1.0
        sign_y = -1.0 if s & 2 else 1.0
        for i in range(height):
            for j in range(width):
                qx, qy = np.float64(j), np.float64(i)
                if elastic:
                    p = 2 * (start + i * step_i + j * step_j)
                    qx += sign_x * np.float64(bank[k, p + x_is])
                    qy += sign_y * np.float64(bank[k, p + y_is])
                x = a * qx + b * qy + m0
                y = c * qx + d * qy + m1
                x0, y0 = np.floor(x), np.floor(y)
                fx, fy = x - x0, y - y0
                jj, ii = int(x0), int(y0)
                if 0 <= ii < height - 1 and 0 <= jj < width - 1:  # all four pixels inside
                    q = ii * width + jj
                    v00, v01 = images[e, q], images[e, q + 1]
                    v10, v11 = images[e, q + width], images[e, q + width + 1]
                elif -1 <= ii < height and -1 <= jj < width:  # some of them inside
                    v00 = _pixel(images, e, ii, jj, height, width)
                    v01 = _pixel(images, e, ii, jj + 1, height, width)
                    v10 = _pixel(images, e, ii + 1, jj, height, width)
                    v11 = _pixel(images, e, ii + 1, jj + 1, height, width)
                else:
                    out[e, i * width + j] = 0.0
                    continue
                out[e, i * width + j] = ((1 - fy) * ((1 - fx) * np.float64(v00)
                                                     + fx * np.float64(v01))
                                         + fy * ((1 - fx) * np.float64(v10)
                                                 + fx * np.float64(v11)))

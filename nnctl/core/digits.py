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
MIN_CONTRAST = 16
# The strokes' usual level: this quantile of the ink above half the strongest becomes 255.
STROKE_LEVEL = 0.9
# ...unless that quantile is within this fraction of the strongest ink: then the strongest is 255.
CLEAN = 0.9
# Strokes wider than WIDEST pixels in a 20-pixel box are thinned to about STROKE (MNIST's: 1.2 to
# 2.9, median 1.8, by `stroke_width`).
WIDEST = 4.0
STROKE = 2.2
# The paper's level is estimated on the picture reduced to at most this many pixels each way.
POOLED = 64
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
    box_h, box_w = box_shape((height, width))
    digit = _thinned(_digit_ink(grey), max(box_h, box_w))
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
    ink = _flat_ink(np.asarray(grey, dtype=np.float64))
    strongest = float(ink.max())
    strong = ink > strongest * STRONG_INK
    near = np.zeros_like(strong)  # strong ink grown by NEAR pixels in every direction
    padded = np.pad(strong, NEAR)
    for dy in range(2 * NEAR + 1):
        for dx in range(2 * NEAR + 1):
            near |= padded[dy : dy + strong.shape[0], dx : dx + strong.shape[1]]
    inked = (ink > strongest * INK_THRESHOLD) & near
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stroke_width(ink: np.ndarray) -> float:
    """The strokes' mean width in pixels: twice the area of the ink (above half of 255) over its
    outline's length (a long stroke of width w and length L: 2 wL / 2L)."""
    inked = np.pad(ink > 127.5, 1)
    outline = (inked[1:] != inked[:-1]).sum() + (inked[:, 1:] != inked[:, :-1]).sum()
    return 2.0 * float(inked.sum()) / max(int(outline), 1)


def _thinned(digit: np.ndarray, box: int) -> np.ndarray:
    """`digit` (cropped ink), its strokes made thinner when they would be wider than WIDEST
    pixels in a `box`-pixel box (a bold font, a marker): eroded (a minimum over a 3x3 square,
    a quarter of a box pixel at a time) until they are at most STROKE pixels wide there, then
    cropped to its ink again. MNIST's are 1.2 to 2.9 pixels wide in their 20-pixel box (5th and
    95th percentiles of `stroke_width` on the test digits)."""
    scale = box / max(digit.shape)  # crop pixels -> box pixels
    width = stroke_width(digit) * scale
    if width <= WIDEST * box / 20:
        return digit
    step = max(1, round(0.25 / scale))  # crop pixels off each side of a stroke, each time
    thinner = digit
    while width > STROKE * box / 20:
        eroded = _min_filter(thinner, 2 * step + 1, "constant")  # paper around the crop
        if not (eroded > 255.0 * STRONG_INK).any():
            break
        thinner, width = eroded, stroke_width(eroded) * scale
    inked = thinner > thinner.max() * INK_THRESHOLD
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    return thinner[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _flat_ink(grey: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, 0 (paper) .. 255 (the digit's strongest strokes), whatever
    the light: the image turned so the ink is light (`light_ink`), the paper's level under an
    uneven light (`background`) taken out as a fraction of what is left above it (a shadow
    darkens paper and ink alike), then the paper's noise (NOISE_FLOOR) below 0 and the strokes'
    usual level (STROKE_LEVEL) at 255. A blank image is a DataError."""
    if not light_ink(grey):
        grey = 255.0 - grey
    paper = background(grey)
    ink = 255.0 * (grey - paper) / np.maximum(255.0 - paper, MIN_CONTRAST)
    ink = np.clip(ink, 0.0, None)
    floor = _noise_floor(ink)
    peak = float(_box_mean(ink, 1).max())  # a lone bright pixel is noise, not a stroke
    if peak - floor < MIN_CONTRAST:
        raise DataError(
            f"no digit found: the image is blank (no stroke differs from the paper by "
            f"{MIN_CONTRAST} grey levels or more)"
        )
    strokes = ink[ink > floor + 0.5 * (peak - floor)]
    strongest = float(ink.max())
    level = float(np.percentile(strokes, 100 * STROKE_LEVEL))
    if level >= CLEAN * strongest:  # no outliers above the strokes: the strongest ink is 255
        level = strongest
    return np.clip((ink - floor) * (255.0 / (level - floor)), 0.0, 255.0)


def light_ink(grey: np.ndarray) -> bool:
    """Whether the digit is lighter than its paper: the paper is most of the picture, the ink a
    minority on one side of it. The light's large-scale trend (a quadratic surface fitted to the
    picture, ink left out) is taken away first, so a shadow across the page does not count."""
    small = _pooled(grey, np.mean)
    residual = small - _trend(small)
    spread = max(float(np.median(np.abs(residual))) * 3.0, 2.0)
    light = np.clip(residual - spread, 0.0, None).sum()
    dark = np.clip(-residual - spread, 0.0, None).sum()
    if light == dark:  # nothing stands out: the old rule, by the border's level
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        return bool(np.median(border) <= LIGHT_BACKGROUND)
    return bool(light > dark)


def background(grey: np.ndarray) -> np.ndarray:
    """The level of the paper under light ink at each pixel: the picture reduced (POOLED pixels at
    most each way, each the darkest of its block), opened (a minimum then a maximum over a window
    of half its shorter side: strokes narrower than that vanish, the light's slopes stay),
    smoothed, then brought back to the picture's size by linear interpolation."""
    small = _pooled(grey, np.min)
    k = max(3, min(small.shape) // 2 + 1)
    opened = _max_filter(_min_filter(small, k, "odd"), k, "odd")
    smooth = _box_mean(opened, k // 2, "odd")  # the light's slopes continued past the edges
    return _enlarged(smooth, grey.shape)


def _noise_floor(ink: np.ndarray) -> float:
    """The ink level that paper noise stays under: its median plus 4 robust deviations."""
    median = float(np.median(ink))
    return median + 4.0 * 1.4826 * float(np.median(np.abs(ink - median)))


def _trend(small: np.ndarray, rounds: int = 3) -> np.ndarray:
    """A quadratic surface fitted to `small` by least squares, refitted without the pixels far
    from it (the ink) `rounds` times."""
    h, w = small.shape
    y, x = np.mgrid[0:h, 0:w]
    y, x = y.ravel() / max(h - 1, 1) - 0.5, x.ravel() / max(w - 1, 1) - 0.5
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    values = small.ravel()
    keep = np.ones(values.shape, bool)
    for _ in range(rounds):
        coef = np.linalg.lstsq(basis[keep], values[keep], rcond=None)[0]
        residual = values - basis @ coef
        keep = np.abs(residual) <= 2.0 * np.median(np.abs(residual)) + 1e-9
    return (basis @ coef).reshape(h, w)


def _pooled(grey: np.ndarray, reduce) -> np.ndarray:
    """`grey` reduced to at most POOLED pixels each way by `reduce` over blocks (edge blocks
    padded by repeating the edge)."""
    f = -(-max(grey.shape) // POOLED)
    if f == 1:
        return grey
    h, w = -(-grey.shape[0] // f), -(-grey.shape[1] // f)
    padded = np.pad(grey, ((0, h * f - grey.shape[0]), (0, w * f - grey.shape[1])), mode="edge")
    return reduce(padded.reshape(h, f, w, f), axis=(1, 3))


def _enlarged(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`small` stretched over `shape` by linear interpolation (block centres to pixel centres)."""
    if small.shape == tuple(shape):
        return small
    out = small
    for axis, n in enumerate(shape):
        m = small.shape[axis]
        at = np.clip((np.arange(n) + 0.5) * m / n - 0.5, 0, m - 1)
        low = np.minimum(at.astype(int), m - 2) if m > 1 else np.zeros(n, int)
        weight = (at - low) if m > 1 else np.zeros(n)
        high = np.minimum(low + 1, m - 1)
        shape_w = (-1, 1) if axis == 0 else (1, -1)
        out = (np.take(out, low, axis) * (1 - weight.reshape(shape_w))
               + np.take(out, high, axis) * weight.reshape(shape_w))
    return out


def _window(pixels: np.ndarray, k: int, reduce, edges: str = "edge") -> np.ndarray:
    """`reduce` over a k x k window around each pixel, one axis at a time; beyond the edges the
    edge pixels repeated ("edge"), zeros ("constant"), or continued as a straight line ("odd":
    the image reflected about its edge pixels, then turned upside down about their level)."""
    before, after = (k - 1) // 2, k // 2
    out = pixels
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (before, after)
        padded = (np.pad(out, pad, mode="reflect", reflect_type="odd") if edges == "odd"
                  else np.pad(out, pad, mode=edges))
        view = np.lib.stride_tricks.sliding_window_view(padded, k, axis)
        out = reduce(view, axis=-1)
    return out


def _min_filter(pixels: np.ndarray, k: int, edges: str = "edge") -> np.ndarray:
    return _window(pixels, k, np.min, edges)


def _max_filter(pixels: np.ndarray, k: int, edges: str = "edge") -> np.ndarray:
    return _window(pixels, k, np.max, edges)


def _box_mean(pixels: np.ndarray, r: int, edges: str = "edge") -> np.ndarray:
    """The mean over a (2r + 1) x (2r + 1) window around each pixel (edges as in `_window`)."""
    return _window(pixels, 2 * r + 1, np.mean, edges) if r > 0 else pixels


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

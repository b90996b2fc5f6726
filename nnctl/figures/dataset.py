"""The picture of a dataset directory (`nnctl data info --figure`): per class, a row of sample
images and the class mean."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from nnctl.errors import DataError
from nnctl.figures.saving import check_figure_file
from nnctl.figures.weights import LABEL_HEIGHT, PAD, grid, save_image
from nnctl.io.datasets.layout import SPLITS, check_directory
from nnctl.io.examples import standard_paths
from nnctl.io.idx import read_examples
from nnctl.terminal import shown

MAX_FIGURE_PIXELS = 50_000_000  # about 150 MB as RGB


def info_figure(directory: str | Path, out_png: str | Path, *, split: str = "train",
                per_class: int = 10, zoom: int = 3, class_names: Sequence[str] | None = None,
                transpose: bool = False, overwrite: bool = False) -> Path:
    """A figure (Pillow only; PNG, SVG, PDF... as `out_png`'s name says): per class, a row of
    `per_class` sample images and the class mean.

    The samples are the first examples of each label in the split's files, drawn on the split's
    grey scale (pixel min black, max white, as stored: MNIST digits are light on dark); the mean
    image of each class is stretched to its own min..max for contrast (finite values: NaN is
    drawn black). Each tile is upscaled `zoom` times with square pixels (less when the figure
    would exceed MAX_FIGURE_PIXELS); the first of each row carries its label (and `class_names[k]`
    if given); the grid is images.grid's, as for weights. EMNIST images are
    stored transposed relative to MNIST: pass `transpose=True` to draw them upright.
    Written atomically; returns the path. An existing `out_png` is refused unless `overwrite`
    (outputs.check_output_file), before anything is read; so is a name whose suffix is not a
    figure format (nnctl.figures.saving.FORMATS: an OptionError). The title names the
    directory and the split.
    """
    out_png = check_figure_file(out_png, overwrite)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if per_class < 1 or zoom < 1:
        raise DataError(f"per_class and zoom must be at least 1 (got {per_class}, {zoom})")
    directory = check_directory(directory)
    paths = standard_paths(directory)
    images_key, labels_key = SPLITS[split]
    images, labels = read_examples(paths[images_key], paths[labels_key])
    if images.ndim != 3:
        raise DataError(f"{paths[images_key]}: cannot draw images of shape "
                        f"{'x'.join(map(str, images.shape[1:]))} (need rows x columns)")
    if transpose:
        images = images.transpose(0, 2, 1)
    classes = int(labels.max()) + 1
    rows, cols = images.shape[1:]
    zoom = _zoom_that_fits(paths[images_key], classes, per_class, rows, cols, zoom)
    scale = _finite_range(images)

    def row_label(k: int) -> str:
        if class_names is not None and k < len(class_names) and class_names[k] != str(k):
            return f"{k} {class_names[k]}"
        return str(k)

    tiles, captions = [], []
    blank = Image.new("RGB", (cols * zoom, rows * zoom), "white")
    for k in range(classes):
        members = np.flatnonzero(labels == k)
        samples = [_tile(images[i], scale, zoom) for i in members[:per_class]]
        tiles += samples + [blank] * (per_class - len(samples))
        captions += [row_label(k) if samples else f"{k}: none"] + [""] * (per_class - 1)
        if len(members):
            mean = images[members].mean(axis=0, dtype=np.float64)
            tiles.append(_tile(mean, _finite_range(mean), zoom))
        else:
            tiles.append(blank)
        captions.append("mean")
    name = shown(Path(directory).resolve().name)
    title = f"{name}, {split} split: the first {per_class} of each label, and the class mean"
    return save_image(grid(tiles, captions, columns=per_class + 1, title=title), out_png)


def _tile(picture: np.ndarray, scale: tuple[float, float], zoom: int):
    """A picture as a grey PIL image, `scale` (low, high) black to white, upscaled `zoom` times;
    NaN is drawn black, infinities as the ends of the scale."""
    low, high = scale
    grey = (picture.astype(np.float64) - low) / ((high - low) or 1.0) * 255.0
    grey = np.clip(np.nan_to_num(grey, nan=0.0, posinf=255.0, neginf=0.0), 0, 255)
    rows, cols = picture.shape
    small = Image.fromarray(np.rint(grey).astype(np.uint8), "L")
    nearest = getattr(Image, "Resampling", Image).NEAREST
    return small.resize((cols * zoom, rows * zoom), nearest).convert("RGB")


def _finite_range(values: np.ndarray, block: int = 4096) -> tuple[float, float]:
    """The smallest and largest finite value ((0, 0) if none), a block of rows at a time."""
    if values.dtype.kind != "f":
        return float(values.min()), float(values.max())
    low, high = math.inf, -math.inf
    for start in range(0, len(values), block):
        part = values[start:start + block]
        finite = part[np.isfinite(part)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else (0.0, 0.0)


def _zoom_that_fits(path: Path, classes: int, per_class: int, rows: int, cols: int,
                    zoom: int) -> int:
    """The largest zoom up to `zoom` at which the figure has at most MAX_FIGURE_PIXELS pixels;
    a DataError if even zoom 1 does not fit (say, 1,000 classes of 500x500 images)."""
    for fits in range(zoom, 0, -1):
        width = (per_class + 1) * (cols * fits + PAD)
        height = classes * (rows * fits + LABEL_HEIGHT + PAD)
        if width * height <= MAX_FIGURE_PIXELS:
            return fits
    raise DataError(f"{path}: {classes} classes of {rows}x{cols} images make a figure of more "
                    f"than {MAX_FIGURE_PIXELS:,} pixels; too large to draw")

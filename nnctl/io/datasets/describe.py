"""Describe a dataset directory: counts, shapes, pixel statistics and class balance (`info`; its
picture, sample images and class means, is nnctl.figures.dataset.info_figure).

The images are read a block at a time (`idx.idx_blocks`): a file larger than memory is described
without being held. Pixels of one or two bytes (MNIST's uint8) are summed exactly, as integers, in
one pass; wider or float pixels in two (the mean, then the spread about it, in float64).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnctl.errors import DataError
from nnctl.io.datasets.layout import SPLITS, check_directory
from nnctl.io.examples import STANDARD_NAMES, standard_paths
from nnctl.io.idx import check_counts, check_image_shape, check_labels, idx_blocks, read_idx


def info(directory: str | Path) -> dict:
    """Counts, image shape, pixel dtype and range, class balance, for each split present.

    Returns {"directory", "image_shape", "pixel_dtype", "classes", "splits": {"train": {...},
    "test": {...}}}, each split with "images" and "labels" (the files read), "count",
    "image_shape", "pixel_dtype", "pixel_min", "pixel_max", "pixel_mean", "pixel_std",
    "label_min", "label_max" and "class_counts" (a list: index k holds the number of examples
    of label k, for k = 0 .. classes-1 of both splits). A split whose two files are both absent
    is left out; a directory with neither split is a DataError.
    """
    directory = check_directory(directory)
    paths = standard_paths(directory)
    splits: dict[str, dict] = {}
    arrays = {}
    for split, (images_key, labels_key) in SPLITS.items():
        if not paths[images_key].exists() and not paths[labels_key].exists():
            continue
        pixels = _pixel_statistics(paths[images_key])
        labels = read_idx(paths[labels_key])
        check_labels(labels, paths[labels_key])
        count, shape = pixels.pop("count"), pixels.pop("image_shape")
        check_counts(count, len(labels), paths[images_key], paths[labels_key])
        arrays[split] = labels
        splits[split] = {
            "images": str(paths[images_key]),
            "labels": str(paths[labels_key]),
            "count": count,
            "image_shape": shape,
            **pixels,
            "label_min": int(labels.min()),
            "label_max": int(labels.max()),
        }
    if not splits:
        names = ", ".join(STANDARD_NAMES.values())
        raise DataError(f"{directory}: no MNIST-style files ({names}, gzipped or not)")
    classes = max(int(labels.max()) for labels in arrays.values()) + 1
    for split, labels in arrays.items():
        splits[split]["class_counts"] = [int(c) for c in np.bincount(labels, minlength=classes)]
    first = next(iter(splits.values()))
    return {
        "directory": str(directory),
        "image_shape": first["image_shape"],
        "pixel_dtype": first["pixel_dtype"],
        "classes": classes,
        "splits": splits,
    }


def _pixel_statistics(path: Path) -> dict:
    """Count, image shape, dtype, range, mean and standard deviation of an images file, read a
    block at a time (no float64 copy of more than a block)."""
    with idx_blocks(path) as read:
        check_image_shape(read.shape, path)
        exact = read.dtype.kind in "iu" and read.dtype.itemsize <= 2
        low = high = None
        total = squares = 0  # exact: Python ints
        for block in read.blocks:
            low = block.min() if low is None else min(low, block.min())
            high = block.max() if high is None else max(high, block.max())
            if exact:
                total, squares = _add_exact_sums(block, total, squares)
            else:
                total += float(block.sum(dtype=np.float64))
    size = int(np.prod(read.shape, dtype=object))
    mean = total / size
    if exact:  # sum (x - mean)^2 = sum x^2 - (sum x)^2 / size, divided once: correctly rounded
        variance = (size * squares - total * total) / (size * size)
    else:
        with idx_blocks(path) as again:
            for block in again.blocks:
                centred = block.astype(np.float64) - mean
                squares += float(np.vdot(centred, centred))
        variance = squares / size
    return {"count": int(read.shape[0]), "image_shape": [int(d) for d in read.shape[1:]],
            "pixel_dtype": str(read.dtype), "pixel_min": _scalar(low), "pixel_max": _scalar(high),
            "pixel_mean": mean, "pixel_std": math.sqrt(variance)}


EXACT_PART = 1 << 20  # values widened to int64 at a time: 8 MB


def _add_exact_sums(block: np.ndarray, total: int, squares: int) -> tuple[int, int]:
    """`total` + the sum of `block`'s values and `squares` + the sum of their squares, exactly:
    values of at most 16 bits squared are below 2^32, so a part of 2^20 of them sums in int64."""
    flat = block.reshape(-1)
    for start in range(0, len(flat), EXACT_PART):
        part = flat[start : start + EXACT_PART].astype(np.int64)
        total += int(part.sum())
        squares += int(part @ part)
    return total, squares


def _scalar(value) -> int | float:
    return value.item() if hasattr(value, "item") else value

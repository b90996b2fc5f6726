"""Describe a dataset directory: counts, shapes, pixel statistics and class balance (`info`; its
picture, sample images and class means, is nnctl.figures.dataset.info_figure).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnctl.errors import DataError
from nnctl.io.datasets.layout import SPLITS, check_directory
from nnctl.io.examples import STANDARD_NAMES, standard_paths
from nnctl.io.idx import read_examples


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
        images, labels = read_examples(paths[images_key], paths[labels_key])
        arrays[split] = labels
        splits[split] = {
            "images": str(paths[images_key]),
            "labels": str(paths[labels_key]),
            "count": len(labels),
            "image_shape": [int(d) for d in images.shape[1:]],
            "pixel_dtype": str(images.dtype),
            "pixel_min": _scalar(images.min()),
            "pixel_max": _scalar(images.max()),
            **_pixel_moments(images),
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


def _pixel_moments(images: np.ndarray, block: int = 4096) -> dict[str, float]:
    """Mean and standard deviation in blocks (np.std would make a float64 copy of everything)."""
    mean = float(images.mean(dtype=np.float64))
    squares = 0.0
    for start in range(0, len(images), block):
        centred = images[start:start + block].astype(np.float64) - mean
        squares += float(np.vdot(centred, centred))
    return {"pixel_mean": mean, "pixel_std": math.sqrt(squares / max(images.size, 1))}


def _scalar(value) -> int | float:
    return value.item() if hasattr(value, "item") else value

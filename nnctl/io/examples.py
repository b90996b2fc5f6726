"""Datasets: the examples of a pair of IDX files made network inputs, where the files are (data.dir,
the bundled MNIST, files given one by one), the train / validation / test splits, and the
preprocessing record a checkpoint keeps.

A dataset keeps its pixels once, as read (MNIST: bytes), and makes them inputs only for the rows
asked for (`Inputs`): full MNIST is 47 MB of bytes but 188 MB of float32 inputs."""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnctl.core.preprocessing import apply_preprocessing
from nnctl.errors import CheckpointError, DataError
from nnctl.io.config.schema import held_out, too_many_held_out
from nnctl.io.idx import read_examples
from nnctl.io.machine import physical_memory
from nnctl.io.read_once import ReadFile, idx_reader

if TYPE_CHECKING:  # the type only, for the signatures
    from nnctl.io.config.schema import DataConfig

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"
STANDARD_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Inputs are pixel / 255, then deskewed if data.deskew: every checkpoint records which (see
# `preprocessing`); a record without "deskew" means none.
PREPROCESSING = {"name": "scale", "divide_by": 255.0}


class Inputs:
    """The network inputs of a set of images, made from their pixels for the rows asked for:
    `x[rows]` (a slice, an index array or one index) is `apply_preprocessing` of those pixels,
    the same numbers as for the whole set at once (pixel / 255 is computed value by value), so
    that only the pixels are held, and floats only for the rows in use. Deskewed inputs are
    computed once, for the whole set as always, and kept as floats (`floats`): a deskewed
    image's numbers depend on the batch it was deskewed in (its moments are matrix products).

    It reads like the float array it stands for (`shape`, `dtype`, `len`, indexing); numpy
    functions given it whole make the whole float array (`__array__`)."""

    def __init__(self, pixels: np.ndarray, preprocessing: dict, image_shape: tuple[int, ...],
                 dtype: str):
        flat = pixels.reshape(len(pixels), -1)
        self.preprocessing, self.image_shape = preprocessing, tuple(image_shape)
        self.dtype = np.dtype(dtype)
        self.shape = flat.shape
        self.ndim = 2
        deskewed = preprocessing.get("deskew", False)
        self.floats = (apply_preprocessing(flat, preprocessing, image_shape, dtype)
                       if deskewed else None)
        self.pixels = None if deskewed else flat

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        if self.floats is not None:
            return self.floats[rows]
        pixels = self._pixels(rows)
        one = pixels.ndim == 1
        x = apply_preprocessing(pixels[None] if one else pixels, self.preprocessing,
                                self.image_shape, self.dtype.name)
        return x[0] if one else x

    def _pixels(self, rows) -> np.ndarray:
        """The pixels of `rows`; from a memory-mapped file (data.stream) an index array's rows
        are read in file order, then put in the order asked for: the reads go forwards."""
        if not isinstance(self.pixels, np.memmap) or not isinstance(rows, np.ndarray) \
                or rows.ndim != 1 or rows.dtype.kind not in "iu":
            return self.pixels[rows]
        order = np.argsort(rows, kind="stable")
        pixels = np.empty((len(rows), self.shape[1]), self.pixels.dtype)
        pixels[order] = self.pixels[rows[order]]
        return pixels

    def take(self, rows: np.ndarray) -> Inputs | np.ndarray:
        """The inputs of `rows` alone, held as their pixels (read now, if mapped), floats made
        only when asked for; deskewed inputs: their floats."""
        if self.floats is not None:
            return self.floats[rows]
        return Inputs(self._pixels(rows), self.preprocessing, self.image_shape, self.dtype.name)

    def as_pixels(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(pixels, table) with x[rows] == table[pixels[rows]] exactly, where each input is made
        from its own pixel alone (bytes, not deskewed): the table holds the inputs of the 256
        pixel values, computed as `apply_preprocessing` computes them. Else None. The fused
        engine keeps such pixels as its sparse rows' values (1 byte each, not 4)."""
        if self.pixels is None or self.pixels.dtype != np.uint8:
            return None
        table = apply_preprocessing(np.arange(256, dtype=np.uint8)[:, None], self.preprocessing,
                                    self.image_shape, self.dtype.name)[:, 0]
        return self.pixels, table

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        x = self[:]
        return x if dtype is None else x.astype(dtype)


@dataclass
class Dataset:
    """Examples as rows of `x` (their network inputs, flattened: `Inputs`, made from the pixels
    row by row as they are used) with integer `labels`."""

    x: Inputs
    labels: np.ndarray
    image_shape: tuple[int, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)


def preprocessing(data_config: DataConfig) -> dict:
    """How inputs are made from pixels, as a checkpoint records it: pixel / 255, and with
    data.deskew also `"deskew": true`."""
    return {**PREPROCESSING, "deskew": True} if data_config.deskew else dict(PREPROCESSING)


def recorded_preprocessing(meta: dict, source: str) -> dict:
    """The preprocessing a checkpoint's metadata records, checked; one without "deskew" (from
    before deskewing existed) means none."""
    record = meta.get("preprocessing")
    valid = (isinstance(record, dict) and record.get("name") == PREPROCESSING["name"]
             and type(record.get("divide_by")) in (int, float) and 0 < record["divide_by"] < np.inf
             and isinstance(record.get("deskew", False), bool))
    if not valid:
        raise CheckpointError(f"{source}: unknown input preprocessing {reprlib.repr(record)} "
                              f"(expected {PREPROCESSING}, optionally with \"deskew\": true)")
    return record


def make_dataset(images: np.ndarray, labels: np.ndarray, dtype: str, name: str,
                 preprocessing: dict = PREPROCESSING) -> Dataset:
    """The examples of `images` made inputs by `preprocessing` (a checkpoint's record): the
    pixels are kept, not a float copy of them (`Inputs`)."""
    shape = tuple(images.shape[1:])
    return Dataset(Inputs(images, preprocessing, shape, dtype), labels, shape, name)


def check_classes(labels: np.ndarray, classes: int, source: str) -> None:
    """Every label is one of a network's `classes` outputs."""
    if labels.max() >= classes:
        raise DataError(f"{source}: label {labels.max()} is outside the {classes} classes "
                        f"0..{classes - 1}")


def check_every_class(labels: np.ndarray, source: str) -> None:
    """Every label from the smallest to the largest must occur: a stray label is not a class."""
    counts = np.bincount(labels)  # labels are 0..MAX_CLASSES - 1 (read_examples)
    low, high = int(labels.min()), int(labels.max())
    absent = np.flatnonzero(counts[low:] == 0)
    if absent.size == 0:
        return
    first = low + int(absent[0])
    after = first + int(np.flatnonzero(counts[first:])[0])  # the next label that does occur
    gap = (f"label {first} never does" if after == first + 1
           else f"labels {first}..{after - 1} never do")
    times = "once" if counts[after] == 1 else f"{counts[after]:,} times"
    raise DataError(f"{source}: label {after} occurs {times} but {gap}: every class from {low} to "
                    f"{high} must have training examples")


def _check_memory(images: np.ndarray, dtype: str, source: Path) -> None:
    """The inputs, scaled to `dtype`, must fit in the machine's memory."""
    need = images.size * np.dtype(dtype).itemsize
    memory = physical_memory()
    if memory is not None and need > memory:
        raise DataError(f"{source}: {len(images):,} images of {images[0].size:,} values need "
                        f"{need / 2**30:.1f} GiB as {dtype}, more than this machine's "
                        f"{memory / 2**30:.1f} GiB of memory (set data.limit)")


def standard_paths(directory: str | Path) -> dict[str, Path]:
    """The four files of STANDARD_NAMES in `directory`: gzipped (`.gz`) if there, else raw if
    there, else the gzipped name."""
    directory = Path(directory)
    paths = {}
    for key, stem in STANDARD_NAMES.items():
        gz = directory / (stem + ".gz")
        paths[key] = gz if gz.exists() or not (directory / stem).exists() else directory / stem
    return paths


def data_paths(data_config: DataConfig) -> dict[str, Path]:
    """The four file paths from data.dir (default: the bundled MNIST) and any given one by one."""
    directory = data_config.dir if data_config.dir is not None else BUNDLED_DIR
    paths = standard_paths(directory)
    for key in STANDARD_NAMES:
        given = getattr(data_config, key)
        if given is not None:
            paths[key] = Path(given)
    return paths


@dataclass
class Splits:
    train: Dataset
    validation: Dataset | None
    classes: int


def load_training_data(data_config: DataConfig, dtype: str, record: dict | None = None,
                       preread: Mapping[str, ReadFile] | None = None) -> Splits:
    """Training and validation sets: the first `limit` examples, the last `validation` of them (a
    count, or a fraction: config.schema.held_out) held out,
    made inputs by the preprocessing `record` (default: `preprocessing(data_config)`). Files
    in `preread` (read_once.read_files) and unchanged since are not read again. With
    data.stream, uncompressed files are memory-mapped, not read (`idx.read_idx`)."""
    record = preprocessing(data_config) if record is None else record
    paths = data_paths(data_config)
    mapped = data_config.stream
    images, labels = read_examples(paths["train_images"], paths["train_labels"],
                                   idx_reader(preread, mapped=mapped))
    check_every_class(labels, str(paths["train_labels"]))
    classes = int(labels.max()) + 1  # from the whole file: a limit must not drop a class
    if data_config.limit is not None and data_config.limit < len(labels):
        # a copy (unless mapped): a view of the first examples would keep the whole file's pixels
        first = images[: data_config.limit]
        images = first if isinstance(images, np.memmap) else first.copy()
        labels = labels[: data_config.limit]
    n_val = held_out(data_config.validation, len(labels))
    if n_val >= len(labels):
        raise DataError(f"{paths['train_images']}: data.validation: "
                        f"{too_many_held_out(data_config.validation, len(labels))}")
    if classes < 2:
        raise DataError(f"{paths['train_labels']}: need at least 2 classes, found {classes}")
    if not mapped:  # streamed inputs are made a chunk at a time
        _check_memory(images, dtype, paths["train_images"])
    n_train = len(labels) - n_val
    train = make_dataset(images[:n_train], labels[:n_train], dtype, "train", record)
    # the validation pixels copied (unless mapped): training may let go of the training pixels
    # (a view of the same bytes) once the engine holds what it needs
    held = images[n_train:] if isinstance(images, np.memmap) else images[n_train:].copy()
    validation = (make_dataset(held, labels[n_train:], dtype, "validation", record) if n_val
                  else None)
    return Splits(train, validation, classes)


def load_split(data_config: DataConfig, split: str, dtype: str,
               record: dict | None = None) -> Dataset:
    """One named split: 'test', or 'train' / 'validation' as training saw them, made inputs by
    the preprocessing `record` (default: `preprocessing(data_config)`)."""
    record = preprocessing(data_config) if record is None else record
    if split == "test":
        paths = data_paths(data_config)
        images, labels = read_examples(paths["test_images"], paths["test_labels"])
        return make_dataset(images, labels, dtype, "test", record)
    splits = load_training_data(data_config, dtype, record)
    dataset = splits.train if split == "train" else splits.validation
    if dataset is None:
        raise DataError(f"this run has no {split} split (data.validation is 0)")
    return dataset

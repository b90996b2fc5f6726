"""IDX files (the MNIST format), datasets and the train / validation / test splits.

IDX: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32 sizes and
the values, big-endian. Files may be gzipped (detected by content, not by name). The image shape
always comes from the header; nothing here assumes 28x28.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.errors import DataError, unreadable

IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "data" / "mnist"
STANDARD_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Inputs are pixel / 255 (recorded in every checkpoint as the input preprocessing).
PREPROCESSING = {"name": "scale", "divide_by": 255.0}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into an array of its own dtype and shape."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
        with (gzip.open if gzipped else open)(path, "rb") as stream:
            return _read_idx_stream(stream, str(path))
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e or 'unexpected end of data'})") from None
    except OSError as e:
        raise DataError(unreadable(path, e, "an IDX file")) from None


def _read_idx_stream(stream, name: str) -> np.ndarray:
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number {head.hex() or 'empty'})")
    code, ndim = head[2], head[3]
    if code not in IDX_TYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header has zero dimensions")
    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    dtype = IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    payload = _read_at_most(stream, expected + 1)  # grows with the data actually there, not the header
    if len(payload) < expected:
        raise DataError(
            f"{name}: truncated: the header promises {expected} bytes of data "
            f"(shape {'x'.join(map(str, shape))}), the file has {len(payload)}"
        )
    if len(payload) > expected:
        raise DataError(f"{name}: {expected} bytes of data expected, the file has more")
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_at_most(stream, limit: int, block: int = 1 << 24) -> bytes:
    """Up to `limit` bytes, read in blocks so that a lying header cannot make us allocate."""
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(block, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


@dataclass
class Dataset:
    """Examples as rows of `x` (preprocessed, flattened) with integer `labels`."""

    x: np.ndarray
    labels: np.ndarray
    image_shape: tuple[int, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)


def read_examples(images_path: str | Path, labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (n, *shape) and labels (n,) read from a pair of IDX files, checked against each other."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim < 2:
        raise DataError(f"{images_path}: expected images (count x rows x columns), got 1 dimension")
    if labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-dimensional labels file, got {labels.ndim}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{labels_path}: labels must be integers, got {labels.dtype}")
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
        )
    if len(labels) == 0:
        raise DataError(f"{images_path}: the dataset is empty")
    if labels.min() < 0:
        raise DataError(f"{labels_path}: negative label {labels.min()}")
    return images, labels.astype(np.int64)


def preprocess(images: np.ndarray, dtype: str) -> np.ndarray:
    """Flatten each image to a row and scale pixels to [0, 1] (pixel / 255)."""
    x = images.reshape(len(images), -1).astype(dtype)
    x /= np.asarray(PREPROCESSING["divide_by"], dtype=dtype)
    return x


def make_dataset(images: np.ndarray, labels: np.ndarray, dtype: str, name: str) -> Dataset:
    return Dataset(preprocess(images, dtype), labels, tuple(images.shape[1:]), name)


def check_classes(labels: np.ndarray, classes: int, source: str) -> None:
    if labels.max() >= classes:
        raise DataError(f"{source}: label {labels.max()} is outside the {classes} classes 0..{classes - 1}")


def data_paths(data_config) -> dict[str, Path]:
    """The four file paths from data.dir (default: the bundled MNIST) and any given one by one."""
    directory = Path(data_config.dir) if data_config.dir is not None else BUNDLED_DIR
    paths = {}
    for key, stem in STANDARD_NAMES.items():
        given = getattr(data_config, key)
        if given is not None:
            paths[key] = Path(given)
            continue
        gz = directory / (stem + ".gz")
        paths[key] = gz if gz.exists() or not (directory / stem).exists() else directory / stem
    return paths


@dataclass
class Splits:
    train: Dataset
    validation: Dataset | None
    classes: int


def load_training_data(data_config, dtype: str) -> Splits:
    """Training and validation sets: the first `limit` examples, the last `validation` held out."""
    paths = data_paths(data_config)
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    classes = int(labels.max()) + 1  # from the whole file: a limit must not drop a class
    if data_config.limit is not None:
        images, labels = images[: data_config.limit], labels[: data_config.limit]
    n_val = data_config.validation
    if n_val >= len(labels):
        raise DataError(
            f"{paths['train_images']}: {len(labels)} examples, cannot hold out {n_val} for validation"
        )
    if classes < 2:
        raise DataError(f"{paths['train_labels']}: need at least 2 classes, found {classes}")
    n_train = len(labels) - n_val
    train = make_dataset(images[:n_train], labels[:n_train], dtype, "train")
    validation = (
        make_dataset(images[n_train:], labels[n_train:], dtype, "validation") if n_val else None
    )
    return Splits(train, validation, classes)


def load_split(data_config, split: str, dtype: str) -> Dataset:
    """One named split: 'test', or 'train' / 'validation' as training saw them."""
    if split == "test":
        paths = data_paths(data_config)
        images, labels = read_examples(paths["test_images"], paths["test_labels"])
        return make_dataset(images, labels, dtype, "test")
    splits = load_training_data(data_config, dtype)
    dataset = splits.train if split == "train" else splits.validation
    if dataset is None:
        raise DataError(f"this run has no {split} split (data.validation is 0)")
    return dataset

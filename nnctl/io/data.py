"""IDX files (the MNIST format), datasets and the train / validation / test splits.

IDX: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32 sizes and
the values, big-endian. Files may be gzipped (detected by content, not by name). The image shape
always comes from the header; nothing here assumes 28x28.
"""

from __future__ import annotations

import gzip
import os
import reprlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from nnctl.errors import CheckpointError, DataError, unreadable
from nnctl.io.inputs import open_regular

if TYPE_CHECKING:  # config imports this module: the type only, for the signatures
    from nnctl.io.config import DataConfig

IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
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
DESKEW_BATCH = 10_000  # images deskewed at a time: bounds the memory of the index arrays
# What a header may claim. MNIST's training images are 47 MB; the data a header promises is checked
# against these, and against what the file can hold, before anything is read.
MAX_DIMENSIONS = 16
MAX_PAYLOAD = 2 * 2**30  # bytes of values in one file
MAX_GZIP_RATIO = 1032  # deflate's largest expansion: a gzip file of n bytes holds < 1032 n bytes
MAX_CLASSES = 1000  # labels are class indices 0..999
# Values of the float IDX types must be finite and no larger than the integer types' (int32):
# then pixel / 255, sums over a dataset and a network's first layer stay far from overflow.
MAX_FLOAT_VALUE = 2.0**31
CHECK_BLOCK = 1 << 22  # values checked at a time: bounds the memory of the check


def physical_memory() -> int | None:
    """The machine's memory in bytes, or None where the system does not tell."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into an array of its own dtype and shape."""
    path = Path(path)
    try:
        with open_regular(path, "an IDX file", DataError) as raw:
            size = os.fstat(raw.fileno()).st_size
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if not gzipped:
                return _read_idx_stream(raw, str(path), size, gzipped)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx_stream(stream, str(path), size, gzipped)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: not a valid gzip file ({e or 'unexpected end of data'})") from None
    except OSError as e:
        raise DataError(unreadable(path, e, "an IDX file")) from None


def _read_idx_stream(stream: BinaryIO, name: str, size: int, gzipped: bool) -> np.ndarray:
    """The array of an IDX stream; what the header promises is checked before it is read."""
    dtype, shape = _read_header(stream, name)
    shown = "x".join(map(str, shape))
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    room = (size * MAX_GZIP_RATIO if gzipped else size) - 4 - 4 * len(shape)
    if expected > room:
        holds = (f"a gzip file of {size} bytes holds at most {room}" if gzipped
                 else f"the file has {room}")
        raise DataError(f"{name}: truncated: the header promises {expected} bytes of data "
                        f"(shape {shown}), {holds}")
    item = int(np.prod(shape[1:], dtype=object)) * dtype.itemsize
    if max(expected, item) > MAX_PAYLOAD:
        raise DataError(f"{name}: the header promises {max(expected, item):,} bytes of data "
                        f"(shape {shown}), more than the {MAX_PAYLOAD // 2**30} GiB nnctl reads")
    payload = _read_at_most(stream, expected + 1)  # grows with the data actually there
    if len(payload) < expected:
        raise DataError(
            f"{name}: truncated: the header promises {expected} bytes of data "
            f"(shape {shown}), the file has {len(payload)}"
        )
    if len(payload) > expected:
        raise DataError(f"{name}: {expected} bytes of data expected, the file has more")
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    native = dtype.newbyteorder("=")
    array = array if native == dtype else array.byteswap(inplace=True).view(native)  # no copy
    if array.dtype.kind == "f":
        _check_float_values(array, name)
    return array


def _check_float_values(array: np.ndarray, name: str) -> None:
    """Every value of a float IDX array is a finite number within +-MAX_FLOAT_VALUE; a DataError
    names the first item that holds another (`image 12` of images, `value 12` of a 1-D file)."""
    rows = array.reshape(len(array), -1)
    step = max(1, CHECK_BLOCK // max(1, rows.shape[1]))
    for start in range(0, len(rows), step):
        bad = ~(np.abs(rows[start : start + step]) <= MAX_FLOAT_VALUE)  # NaN is never <=
        if not bad.any():
            continue
        row, column = (int(k) for k in np.argwhere(bad)[0])
        value = float(rows[start + row, column])
        item = f"image {start + row} holds a" if array.ndim > 1 else f"value {start + row} is a"
        noun = "pixel" if array.ndim > 1 else "number"
        if not np.isfinite(value):
            raise DataError(f"{name}: {item} non-finite {noun} ({value}); IDX values must be "
                            "finite numbers")
        raise DataError(f"{name}: {item} {noun} of {value:.4g}, outside +-2**31 (the int32 "
                        "range, which float IDX values must stay within)")


def _read_header(stream: BinaryIO, name: str) -> tuple[np.dtype, tuple[int, ...]]:
    """The element type and the shape of an IDX stream, read from its header."""
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number {head.hex() or 'empty'})")
    code, ndim = head[2], head[3]
    if code not in IDX_TYPES:
        raise DataError(f"{name}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header has zero dimensions")
    if ndim > MAX_DIMENSIONS:
        raise DataError(f"{name}: IDX header claims {ndim} dimensions, at most {MAX_DIMENSIONS} "
                        "are supported")
    dims_bytes = stream.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(f"{name}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    if 0 in shape[1:]:
        raise DataError(f"{name}: IDX header has a size of 0 (shape {'x'.join(map(str, shape))}): "
                        "each item would hold no values")
    return IDX_TYPES[code], shape


def _read_at_most(stream: BinaryIO, limit: int, block: int = 1 << 24) -> bytearray:
    """Up to `limit` bytes, read in blocks so that memory follows the data, not a header's claim."""
    buffer = bytearray()
    while len(buffer) < limit:
        part = stream.read(min(block, limit - len(buffer)))
        if not part:
            break
        buffer += part
    return buffer


@dataclass
class Dataset:
    """Examples as rows of `x` (preprocessed, flattened) with integer `labels`."""

    x: np.ndarray
    labels: np.ndarray
    image_shape: tuple[int, ...]
    name: str

    def __len__(self) -> int:
        return len(self.labels)


def read_examples(images_path: str | Path,
                  labels_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (n, *shape) and labels (n,) read from a pair of IDX files, each checked and
    checked against the other."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    check_images(images, images_path)
    check_labels(labels, labels_path)
    check_pair(images, labels, images_path, labels_path)
    return images, labels.astype(np.int64)


def check_images(images: np.ndarray, path: str | Path) -> None:
    """An images file holds at least one image of at least one dimension."""
    if images.ndim < 2:
        raise DataError(f"{path}: expected images (count x rows x columns), got 1 dimension")
    if len(images) == 0:
        raise DataError(f"{path}: the dataset is empty")


def check_labels(labels: np.ndarray, path: str | Path) -> None:
    """A labels file holds at least one label, each an integer class index 0..MAX_CLASSES - 1."""
    if labels.ndim != 1:
        raise DataError(f"{path}: expected a 1-dimensional labels file, got {labels.ndim}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be integers, got {labels.dtype}")
    if len(labels) == 0:
        raise DataError(f"{path}: the dataset is empty")
    if labels.min() < 0:
        raise DataError(f"{path}: negative label {labels.min()}: not a class index")
    if labels.max() >= MAX_CLASSES:
        raise DataError(f"{path}: label {labels.max()} is not a class index (at most "
                        f"{MAX_CLASSES} classes, 0..{MAX_CLASSES - 1})")


def check_file(key: str, array: np.ndarray, path: str | Path) -> None:
    """Check the array read from the standard file `key` (of STANDARD_NAMES): images or labels."""
    (check_images if key.endswith("_images") else check_labels)(array, path)


def check_pair(images: np.ndarray, labels: np.ndarray, images_path: str | Path,
               labels_path: str | Path) -> None:
    """One label for each image."""
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images in "
                        f"{images_path}")


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


def make_dataset(images: np.ndarray, labels: np.ndarray, dtype: str, name: str,
                 preprocessing: dict = PREPROCESSING) -> Dataset:
    """The examples of `images` made inputs by `preprocessing` (a checkpoint's record)."""
    shape = tuple(images.shape[1:])
    return Dataset(apply_preprocessing(images, preprocessing, shape, dtype), labels, shape, name)


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


def load_training_data(data_config: DataConfig, dtype: str, record: dict | None = None) -> Splits:
    """Training and validation sets: the first `limit` examples, the last `validation` held out,
    made inputs by the preprocessing `record` (default: `preprocessing(data_config)`)."""
    record = preprocessing(data_config) if record is None else record
    paths = data_paths(data_config)
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    check_every_class(labels, str(paths["train_labels"]))
    classes = int(labels.max()) + 1  # from the whole file: a limit must not drop a class
    if data_config.limit is not None:
        images, labels = images[: data_config.limit], labels[: data_config.limit]
    n_val = data_config.validation
    if n_val >= len(labels):
        raise DataError(
            f"{paths['train_images']}: {len(labels)} examples, cannot hold out {n_val} for "
            "validation"
        )
    if classes < 2:
        raise DataError(f"{paths['train_labels']}: need at least 2 classes, found {classes}")
    _check_memory(images, dtype, paths["train_images"])
    n_train = len(labels) - n_val
    train = make_dataset(images[:n_train], labels[:n_train], dtype, "train", record)
    validation = (
        make_dataset(images[n_train:], labels[n_train:], dtype, "validation", record)
        if n_val else None
    )
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

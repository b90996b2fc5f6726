"""Import CSV files (`import_csv`): one row per example, the label then one column per pixel,
to gzipped IDX files with the standard names.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from nnctl.atomic import atomic_write_bytes, make_directory
from nnctl.data import STANDARD_NAMES
from nnctl.errors import DataError, one_line, unreadable

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
CSV_CHUNK = 4096  # rows parsed at once


def import_csv(train_csv: str | Path, to: str | Path, *, test_csv: str | Path | None = None,
               image_shape: Sequence[int] | None = None, overwrite: bool = False) -> list[Path]:
    """Convert CSV files (one row per example: label, then one column per pixel) to IDX files.

    `train_csv` becomes `to/train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz`,
    `test_csv` (if given) the two `t10k-*` files: gzipped IDX with the standard names, written
    atomically, only after every input has been read and checked (so nothing is written when
    an input is bad). Pixels must be integers 0..255 (stored as unsigned bytes); labels
    non-negative integers (stored as bytes, or as 32-bit integers if one exceeds 255).
    An optional header row is recognised by its first cell not being an integer; blank lines
    are skipped. The image shape defaults to the square root of the pixel columns (a DataError
    if that is not a whole number); both files must have the same number of columns.
    Existing output files are refused unless `overwrite`. Returns the paths written.

    Errors are one line naming the file and the 1-based line: ragged rows, cells that are not
    integers, pixels outside 0..255, negative labels, an empty file.
    """
    to = Path(to)
    shape = _given_shape(image_shape)
    sources = [("train", Path(train_csv))]
    if test_csv is not None:
        sources.append(("t10k", Path(test_csv)))
    outputs: list[tuple[Path, np.ndarray]] = []
    first_columns = None
    for prefix, path in sources:
        pixels, labels = _read_csv(path)
        columns = pixels.shape[1]
        if first_columns is not None and columns != first_columns:
            raise DataError(f"{path}: {columns} pixel columns, but {sources[0][1]} has "
                            f"{first_columns}")
        first_columns = columns
        if shape is None:
            shape = _square_shape(path, columns)
        elif math.prod(shape) != columns:
            raise DataError(f"{path}: {columns} pixel columns do not make images of shape "
                            f"{'x'.join(map(str, shape))}")
        label_type = np.uint8 if labels.max() <= 255 else np.dtype(">i4")
        outputs.append((to / (STANDARD_NAMES[f"{_split_of(prefix)}_images"] + ".gz"),
                        pixels.reshape(len(pixels), *shape)))
        outputs.append((to / (STANDARD_NAMES[f"{_split_of(prefix)}_labels"] + ".gz"),
                        labels.astype(label_type)))
    if not overwrite:
        for path, _ in outputs:
            if path.exists():
                raise DataError(f"{path}: already exists (not overwriting it)")
    make_directory(to, DataError)
    for path, array in outputs:
        atomic_write_bytes(path, gzip.compress(idx_bytes(array), compresslevel=6, mtime=0))
    return [path for path, _ in outputs]


def _split_of(prefix: str) -> str:
    return "train" if prefix == "train" else "test"


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of `array` (uint8, int8, or big-endian int16/int32/float32/float64)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    kind = f"{array.dtype.kind}{array.dtype.itemsize}"
    if kind not in codes:
        raise DataError(f"cannot store {array.dtype} values in an IDX file")
    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    header = bytes([0, 0, codes[kind], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big.tobytes()


def _given_shape(image_shape: Sequence[int] | None) -> tuple[int, ...] | None:
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                            for d in shape):
        raise DataError(f"image shape must be positive integers, got {image_shape!r}")
    return tuple(int(d) for d in shape)


def _square_shape(path: Path, columns: int) -> tuple[int, int]:
    side = math.isqrt(columns)
    if side * side != columns:
        raise DataError(f"{path}: {columns} pixel columns is not a square number; give the "
                        f"image shape (rows x columns)")
    return side, side


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, columns) uint8 and labels (n,) int64 from a CSV file, every cell checked."""
    pixel_parts, label_parts = [], []
    columns = None
    header_line = None
    numbers: list[int] = []
    texts: list[str] = []
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if number == 1:
                    text = text.removeprefix("\ufeff")
                if not text.strip():
                    continue
                if columns is None:
                    cells = text.split(",")
                    if header_line is None and not _INTEGER.fullmatch(cells[0]):
                        header_line = number
                        continue
                    columns = len(cells)
                    if columns < 2:
                        raise DataError(f"{path}: line {number}: {columns} column; expected a "
                                        f"label and at least one pixel")
                numbers.append(number)
                texts.append(text)
                if len(texts) == CSV_CHUNK:
                    labels, pixels = _parse_rows(path, numbers, texts, columns)
                    label_parts.append(labels)
                    pixel_parts.append(pixels)
                    numbers, texts = [], []
    except OSError as e:
        raise DataError(unreadable(path, e, "a CSV file")) from None
    if texts:
        labels, pixels = _parse_rows(path, numbers, texts, columns)
        label_parts.append(labels)
        pixel_parts.append(pixels)
    if not label_parts:
        if header_line is not None:
            raise DataError(f"{path}: line {header_line}: a header row and no data rows")
        raise DataError(f"{path}: empty file (no data rows)")
    return np.concatenate(pixel_parts), np.concatenate(label_parts)


def _parse_rows(path: Path, numbers: list[int], texts: list[str], columns: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Labels and uint8 pixels of a block of rows; a DataError naming the first bad line."""
    try:
        values = np.loadtxt(texts, delimiter=",", dtype=np.int64, comments=None, ndmin=2)
    except ValueError as e:  # find the culprit the slow way, for a message with its line
        _raise_first_problem(path, numbers, texts, columns)
        raise DataError(one_line(f"{path}: line {numbers[0]}..{numbers[-1]}: {e}")) from None
    if values.shape != (len(texts), columns):
        _raise_first_problem(path, numbers, texts, columns)
    labels, pixels = values[:, 0], values[:, 1:]
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        row = negative[0]
        raise DataError(f"{path}: line {numbers[row]}: label {labels[row]} is negative")
    if labels.max() > np.iinfo(np.int32).max:
        row = int(np.argmax(labels))
        raise DataError(f"{path}: line {numbers[row]}: label {labels[row]} is too large")
    bad = np.argwhere((pixels < 0) | (pixels > 255))
    if bad.size:
        row, column = bad[0]
        raise DataError(f"{path}: line {numbers[row]}, column {column + 2}: pixel value "
                        f"{pixels[row, column]} is outside 0..255")
    return labels.copy(), pixels.astype(np.uint8)


def _raise_first_problem(path: Path, numbers: Iterable[int], texts: Iterable[str],
                         columns: int) -> None:
    for number, text in zip(numbers, texts):
        cells = text.split(",")
        if len(cells) != columns:
            raise DataError(f"{path}: line {number}: {len(cells)} columns, expected {columns} "
                            f"(a label and {columns - 1} pixels)")
        label = cells[0]
        if not _INTEGER.fullmatch(label):
            raise DataError(f"{path}: line {number}: label {label.strip()!r} is not an integer")
        if int(label) < 0:
            raise DataError(f"{path}: line {number}: label {int(label)} is negative")
        if int(label) > np.iinfo(np.int32).max:
            raise DataError(f"{path}: line {number}: label {int(label)} is too large")
        for column, cell in enumerate(cells[1:], start=2):
            if not _INTEGER.fullmatch(cell):
                raise DataError(f"{path}: line {number}, column {column}: {cell.strip()!r} is "
                                f"not an integer")
            if not 0 <= int(cell) <= 255:
                raise DataError(f"{path}: line {number}, column {column}: pixel value "
                                f"{int(cell)} is outside 0..255")

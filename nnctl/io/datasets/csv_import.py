"""Import CSV files (`import_csv`): one row per example, the label then one column per pixel,
to gzipped IDX files with the standard names.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from nnctl.errors import ConfigError, DataError, one_line, unreadable
from nnctl.io.atomic import remove_stale_temporaries
from nnctl.io.examples import STANDARD_NAMES
from nnctl.io.idx import GZIP_MAGIC, MAX_CLASSES, MAX_DIMENSIONS, MAX_PAYLOAD, write_idx
from nnctl.io.inputs import open_regular
from nnctl.io.outputs import check_output_file

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
CSV_CHUNK = 4096  # rows parsed at once (at most)
CSV_BLOCK = 1 << 23  # characters of rows parsed at once (at most, plus one row)
MAX_LINE = 1 << 20  # bytes in one row: images up to about 500x500 pixels
MAX_SIDE = 2**31 - 1  # the largest size of an image dimension
HEADER_WORDS = ("label", "labels", "class", "target", "y", "digit", "category")


def import_csv(train_csv: str | Path, to: str | Path, *, test_csv: str | Path | None = None,
               image_shape: Sequence[int] | None = None, overwrite: bool = False) -> list[Path]:
    """Convert CSV files (one row per example: label, then one column per pixel) to IDX files.

    `train_csv` becomes `to/train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz`,
    `test_csv` (if given) the two `t10k-*` files: gzipped IDX with the standard names, written
    atomically, only after every input has been read and checked (so nothing is written when
    an input is bad). Pixels must be integers 0..255 (stored as unsigned bytes); labels class
    indices 0..MAX_CLASSES-1 (stored as bytes, or as 32-bit integers if one exceeds 255).
    The first row is a header if it looks like one (see _looks_like_header); blank lines are
    skipped. The image shape defaults to the square root of the pixel columns (a DataError if
    that is not a whole number); both files must have the same number of columns. A bad
    `image_shape` is a ConfigError. Existing output files are refused unless `overwrite`
    (outputs.check_output_file); temporary files left by a killed import are removed first.
    Returns the paths written.

    Hostile inputs stay bounded: a FIFO or device is refused unopened, lines are read in pieces
    of at most MAX_LINE bytes, and the images may hold at most MAX_PAYLOAD bytes (what the IDX
    reader accepts). Errors are one line naming the file and the 1-based line: ragged rows,
    cells that are not integers (or not UTF-8), pixels outside 0..255, labels that are not
    class indices, an empty file.
    """
    to = Path(to)
    shape = _given_shape(image_shape)
    sources = [("train", Path(train_csv))]
    if test_csv is not None:
        sources.append(("test", Path(test_csv)))
    outputs: list[tuple[Path, np.ndarray]] = []
    first_columns = None
    for split, path in sources:
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
        outputs.append((to / (STANDARD_NAMES[f"{split}_images"] + ".gz"),
                        pixels.reshape(len(pixels), *shape)))
        outputs.append((to / (STANDARD_NAMES[f"{split}_labels"] + ".gz"),
                        labels.astype(label_type)))
    for path, _ in outputs:
        check_output_file(path, overwrite, DataError)
    remove_stale_temporaries(to)
    for path, array in outputs:
        write_idx(path, array)
    return [path for path, _ in outputs]


def parse_shape(text: str) -> tuple[int, ...]:
    """An image shape written `28x28` (or `3x32x32`...); a one-line ConfigError otherwise."""
    parts = text.lower().split("x")
    if not all(re.fullmatch(r"\s*[0-9]+\s*", part) for part in parts):
        raise ConfigError(f"image shape {_shown(text)!r}: expected sizes joined by x, e.g. 28x28")
    # a size of more than 10 digits is too large whatever it is: never converted whole
    return _given_shape([int(part) if len(part.strip()) <= 10 else MAX_SIDE + 1
                         for part in parts], shown=text)


def _given_shape(image_shape: Sequence[int] | None, shown: str | None = None
                 ) -> tuple[int, ...] | None:
    """The image shape as a tuple, checked: 1 to MAX_DIMENSIONS - 1 sizes (the IDX reader's
    limit, with the count), each 1 .. MAX_SIDE, an image of at most MAX_PAYLOAD pixels (what an
    IDX file nnctl reads may hold); a ConfigError naming the shape (as `shown`) otherwise."""
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if shown is None:
        shown = "x".join(map(str, shape)) if len(shape) <= 20 else f"{len(shape)} sizes"
    shown = f"image shape {_shown(shown) or 'empty'}"
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                            and d > 0 for d in shape):
        raise ConfigError(f"{shown}: each size must be a whole number from 1 to {MAX_SIDE:,}")
    if len(shape) >= MAX_DIMENSIONS:
        raise ConfigError(f"{shown}: {len(shape)} dimensions, at most {MAX_DIMENSIONS - 1}")
    if max(shape) > MAX_SIDE:
        raise ConfigError(f"{shown}: the sizes are too large: each is at most {MAX_SIDE:,}")
    if math.prod(shape) > MAX_PAYLOAD:
        raise ConfigError(f"{shown}: the sizes are too large: an image of {math.prod(shape):,} "
                          f"pixels, more than the {MAX_PAYLOAD:,} an IDX file nnctl reads may "
                          "hold")
    return tuple(int(d) for d in shape)


def _square_shape(path: Path, columns: int) -> tuple[int, int]:
    side = math.isqrt(columns)
    if side * side != columns:
        raise DataError(f"{path}: {columns} pixel columns is not a square number; give the "
                        f"image shape (rows x columns)")
    return side, side


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, columns) uint8 and labels (n,) int32 from a CSV file, every cell checked."""
    pixel_parts, label_parts = [], []
    columns = header_line = None
    numbers: list[int] = []
    texts: list[str] = []
    size = 0
    for number, text in _lines(path):
        if not text.strip():
            continue
        if columns is None:
            cells = text.split(",")
            if header_line is None and _looks_like_header(cells):
                header_line = number
                continue
            columns = len(cells)
            if columns < 2:
                raise DataError(f"{path}: line {number}: {columns} column; expected a label and "
                                f"at least one pixel")
        numbers.append(number)
        texts.append(text)
        size += len(text)
        if len(texts) == CSV_CHUNK or size >= CSV_BLOCK:
            _add_rows(path, numbers, texts, columns, label_parts, pixel_parts)
            numbers, texts, size = [], [], 0
    if texts:
        _add_rows(path, numbers, texts, columns, label_parts, pixel_parts)
    if not label_parts:
        if header_line is not None:
            raise DataError(f"{path}: line {header_line}: a header row and no data rows")
        raise DataError(f"{path}: empty file (no data rows)")
    return np.concatenate(pixel_parts), np.concatenate(label_parts)


def _add_rows(path: Path, numbers: list[int], texts: list[str], columns: int,
              label_parts: list[np.ndarray], pixel_parts: list[np.ndarray]) -> None:
    """Parse a block of rows onto the parts read so far; at most MAX_PAYLOAD bytes of pixels."""
    labels, pixels = _parse_rows(path, numbers, texts, columns)
    if sum(part.size for part in pixel_parts) + pixels.size > MAX_PAYLOAD:
        raise DataError(f"{path}: line {numbers[-1]}: more than {MAX_PAYLOAD:,} bytes of pixels, "
                        f"more than an IDX file nnctl reads may hold")
    label_parts.append(labels)
    pixel_parts.append(pixels)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """The numbered lines of a CSV file, decoded (UTF-8; a BOM dropped), without line endings.

    Read in pieces of at most MAX_LINE bytes: a longer line is a DataError, never read whole.
    A FIFO or device is refused before it is read (it could block or never end).
    """
    with open_regular(path, "a CSV file", DataError) as f:
        for number in itertools.count(1):
            try:
                raw = f.readline(MAX_LINE + 1)
            except OSError as e:
                raise DataError(unreadable(path, e, "a CSV file")) from None
            if not raw:
                return
            if number == 1 and raw.startswith(GZIP_MAGIC):
                raise DataError(f"{path}: is gzip-compressed; decompress it first (gunzip)")
            if len(raw) > MAX_LINE:
                raise DataError(f"{path}: line {number}: longer than {MAX_LINE:,} bytes; not a "
                                f"CSV file of images (one row per image)?")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}: line {number}: not UTF-8 text (byte 0x{raw[e.start]:02x} "
                                f"at byte {e.start + 1} of the line)") from None
            yield number, text.removeprefix("\ufeff") if number == 1 else text


def _looks_like_header(cells: list[str]) -> bool:
    """A first row is a header if it is text (no control characters) and either no cell is an
    integer or it starts with a column name such as `label`; otherwise it is data (and a label
    that is not an integer an error)."""
    if _INTEGER.fullmatch(cells[0]) or not all(cell.strip().isprintable() for cell in cells):
        return False
    first = cells[0].strip().strip("\"'").lower()
    return first in HEADER_WORDS or not any(_INTEGER.fullmatch(cell) for cell in cells)


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
        raise DataError(f"{path}: line {numbers[0]}..{numbers[-1]}: expected {columns} columns")
    labels, pixels = values[:, 0], values[:, 1:]
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        row = negative[0]
        raise DataError(f"{path}: line {numbers[row]}: label {labels[row]} is negative")
    if labels.max() >= MAX_CLASSES:
        row = int(np.argmax(labels))
        raise DataError(f"{path}: line {numbers[row]}: {_not_a_class(labels[row])}")
    bad = np.argwhere((pixels < 0) | (pixels > 255))
    if bad.size:
        row, column = bad[0]
        raise DataError(f"{path}: line {numbers[row]}, column {column + 2}: pixel value "
                        f"{pixels[row, column]} is outside 0..255")
    return labels.astype(np.int32), pixels.astype(np.uint8)  # labels < MAX_CLASSES


def _raise_first_problem(path: Path, numbers: Iterable[int], texts: Iterable[str],
                         columns: int) -> None:
    for number, text in zip(numbers, texts, strict=True):
        cells = text.split(",")
        if len(cells) != columns:
            raise DataError(f"{path}: line {number}: {len(cells)} columns, expected {columns} "
                            f"(a label and {columns - 1} pixels)")
        label = _integer(cells[0])
        if label is None:
            raise DataError(f"{path}: line {number}: label {_shown(cells[0])!r} is not an "
                            f"integer")
        if label < 0:
            raise DataError(f"{path}: line {number}: label {_shown(cells[0])} is negative")
        if label >= MAX_CLASSES:
            raise DataError(f"{path}: line {number}: {_not_a_class(_shown(cells[0]))}")
        for column, cell in enumerate(cells[1:], start=2):
            value = _integer(cell)
            if value is None:
                raise DataError(f"{path}: line {number}, column {column}: {_shown(cell)!r} is "
                                f"not an integer")
            if not 0 <= value <= 255:
                raise DataError(f"{path}: line {number}, column {column}: pixel value "
                                f"{_shown(cell)} is outside 0..255")


def _not_a_class(label: object) -> str:
    return (f"label {label} is not a class index (at most {MAX_CLASSES} classes, "
            f"0..{MAX_CLASSES - 1})")


def _integer(cell: str) -> int | None:
    """The integer in a cell, or None; one of more than 18 digits comes back as +-10**18 (out of
    every range here), never converted whole (Python refuses 4,300 digits, slowly)."""
    if not _INTEGER.fullmatch(cell):
        return None
    text = cell.strip()
    if len(text.lstrip("+-").lstrip("0")) > 18:
        return -10**18 if text.startswith("-") else 10**18
    return int(text)


def _shown(cell: str, width: int = 24) -> str:
    """A cell for a message: stripped, and cut short if long."""
    text = cell.strip()
    return text if len(text) <= width else f"{text[:width]}... ({len(text):,} characters)"

"""IDX files (the MNIST format), read with bounds, and the checks of what they hold.

IDX: two zero bytes, a type code, the number of dimensions n, then n big-endian uint32 sizes and
the values, big-endian. Files may be gzipped (detected by content, not by name). The image shape
always comes from the header; nothing here assumes 28x28.

Three ways to read one: `read_idx` reads the values into memory; `read_idx(path, mapped=True)`
maps an uncompressed file's values instead (its pages are read when used, and the page cache
may drop them again: a file larger than memory); `idx_blocks` hands them over a block at a time
(gzipped or not), for what looks at every value once (`data info`, `data verify`).
`write_idx` writes one.
"""

from __future__ import annotations

import gzip
import mmap
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nnctl.errors import DataError, unreadable
from nnctl.io.atomic import atomic_file
from nnctl.io.inputs import open_regular

IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
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


def read_idx(path: str | Path, mapped: bool = False) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into an array of its own dtype and shape. `mapped`: an
    uncompressed file's values are mapped read-only from the file (np.memmap, in the file's byte
    order), not read; the file must then stay as it is while the array is in use."""
    path = Path(path)
    with _opened(path) as (raw, size, gzipped):
        if mapped and not gzipped:
            return _map_idx(raw, str(path), size)
        if not gzipped:
            return _read_idx_stream(raw, str(path), size, gzipped)
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            return _read_idx_stream(stream, str(path), size, gzipped)


@contextmanager
def _opened(path: Path) -> Iterator[tuple[BinaryIO, int, bool]]:
    """The file opened (a regular file only), its size and whether it is gzipped; gzip and
    read errors inside become one-line DataErrors naming it."""
    try:
        with open_regular(path, "an IDX file", DataError) as raw:
            size = os.fstat(raw.fileno()).st_size
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            yield raw, size, gzipped
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: not a valid gzip file ({e or 'unexpected end of data'})") from None
    except OSError as e:
        raise DataError(unreadable(path, e, "an IDX file")) from None


def _payload_size(dtype: np.dtype, shape: tuple[int, ...], name: str, size: int, gzipped: bool,
                  bounded: bool = True) -> int:
    """The bytes of values the header promises, checked against what the file can hold and
    against MAX_PAYLOAD: one item's, and unless not `bounded` (the file's own size bounds them)
    all of them."""
    shown = "x".join(map(str, shape))
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    room = (size * MAX_GZIP_RATIO if gzipped else size) - 4 - 4 * len(shape)
    if expected > room:
        holds = (f"a gzip file of {size} bytes holds at most {room}" if gzipped
                 else f"the file has {room}")
        raise DataError(f"{name}: truncated: the header promises {expected} bytes of data "
                        f"(shape {shown}), {holds}")
    item = int(np.prod(shape[1:], dtype=object)) * dtype.itemsize
    largest = max(expected, item) if bounded else item
    if largest > MAX_PAYLOAD:
        raise DataError(f"{name}: the header promises {largest:,} bytes of data "
                        f"(shape {shown}), more than the {MAX_PAYLOAD // 2**30} GiB nnctl reads")
    return expected


def _read_idx_stream(stream: BinaryIO, name: str, size: int, gzipped: bool) -> np.ndarray:
    """The array of an IDX stream; what the header promises is checked before it is read."""
    dtype, shape = _read_header(stream, name)
    expected = _payload_size(dtype, shape, name, size, gzipped)
    payload = _read_at_most(stream, expected + 1)  # grows with the data actually there
    _check_length(len(payload), expected, name, shape)
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    native = dtype.newbyteorder("=")
    array = array if native == dtype else array.byteswap(inplace=True).view(native)  # no copy
    if array.dtype.kind == "f":
        _check_float_values(array, name)
    return array


def _check_length(found: int, expected: int, name: str, shape: tuple[int, ...]) -> None:
    """Exactly the bytes of values the header promised: no fewer, no more."""
    if found < expected:
        raise DataError(f"{name}: truncated: the header promises {expected} bytes of data "
                        f"(shape {'x'.join(map(str, shape))}), the file has {found}")
    if found > expected:
        raise DataError(f"{name}: {expected} bytes of data expected, the file has more")


def _map_idx(raw: BinaryIO, name: str, size: int) -> np.ndarray:
    """The values of an uncompressed IDX file mapped read-only: checked as `_read_idx_stream`
    checks them (the file's size must be exactly what the header promises), but not read, so
    no limit on the total beyond the file's own size."""
    dtype, shape = _read_header(raw, name)
    expected = _payload_size(dtype, shape, name, size, False, bounded=False)
    offset = 4 + 4 * len(shape)
    _check_length(size - offset, expected, name, shape)
    if expected == 0:
        return np.zeros(shape, dtype)
    array = np.memmap(raw, dtype=dtype, mode="r", offset=offset, shape=shape)
    _expect_random_reads(array)
    if array.dtype.kind == "f":
        _check_float_values(array, name)
    return array


def _expect_random_reads(array: np.memmap) -> None:
    """Tell the kernel that the map's pages are read in no order (training's shuffled rows): a
    page that is not in memory is read alone, not with its neighbours. From a file larger than
    the page cache this made a streamed epoch 3.2x as fast (benchmarks/large_data.py's group:
    32 s against 103 s)."""
    pages = getattr(array, "_mmap", None)  # numpy's memmap keeps its mmap.mmap there
    if pages is not None and hasattr(pages, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        pages.madvise(mmap.MADV_RANDOM)


@dataclass(frozen=True)
class IdxBlocks:
    """An IDX file's element type (native byte order) and shape, and `blocks`: its values as
    arrays of whole items (at most BLOCK_BYTES each, at least one item), in order."""

    dtype: np.dtype
    shape: tuple[int, ...]
    blocks: Iterator[np.ndarray]


BLOCK_BYTES = 1 << 24  # what idx_blocks holds at a time


@contextmanager
def idx_blocks(path: str | Path) -> Iterator[IdxBlocks]:
    """An IDX file (raw or gzipped) read a block at a time, checked as `read_idx` checks it (the
    block that finds a problem raises it): its values are never all in memory at once, so an
    uncompressed file may hold more than MAX_PAYLOAD."""
    path = Path(path)
    with _opened(path) as (raw, size, gzipped):
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        with stream:
            dtype, shape = _read_header(stream, str(path))
            # a gzipped file's content within MAX_PAYLOAD: its time to read is bounded too
            expected = _payload_size(dtype, shape, str(path), size, gzipped, bounded=gzipped)
            yield IdxBlocks(dtype.newbyteorder("="), shape,
                            _blocks(stream, str(path), dtype, shape, expected))


def _blocks(stream: BinaryIO, name: str, dtype: np.dtype, shape: tuple[int, ...],
            expected: int) -> Iterator[np.ndarray]:
    item = int(np.prod(shape[1:], dtype=object)) * dtype.itemsize
    per_block = max(1, BLOCK_BYTES // max(1, item)) * item
    done = 0
    while done < expected:
        payload = _read_at_most(stream, min(per_block, expected - done))
        if len(payload) % item or not payload:
            _check_length(done + len(payload), expected, name, shape)
        block = np.frombuffer(payload, dtype=dtype).reshape(-1, *shape[1:])
        block = block.astype(dtype.newbyteorder("="), copy=False)
        if block.dtype.kind == "f":
            _check_float_values(block, name, first=done // item)
        done += len(payload)
        yield block
    _check_length(done + len(stream.read(1)), expected, name, shape)


def _check_float_values(array: np.ndarray, name: str, first: int = 0) -> None:
    """Every value of a float IDX array is a finite number within +-MAX_FLOAT_VALUE; a DataError
    names the first item that holds another (`image 12` of images, `value 12` of a 1-D file;
    the array's items are numbered from `first`)."""
    rows = array.reshape(len(array), -1)
    step = max(1, CHECK_BLOCK // max(1, rows.shape[1]))
    for start in range(0, len(rows), step):
        bad = ~(np.abs(rows[start : start + step]) <= MAX_FLOAT_VALUE)  # NaN is never <=
        if not bad.any():
            continue
        row, column = (int(k) for k in np.argwhere(bad)[0])
        value = float(rows[start + row, column])
        at = first + start + row
        item = f"image {at} holds a" if array.ndim > 1 else f"value {at} is a"
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


def read_examples(images_path: str | Path, labels_path: str | Path,
                  read: Callable[[str | Path], np.ndarray] = read_idx
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (n, *shape) and labels (n,) read from a pair of IDX files (by `read`: the
    files' arrays may have been read before, read_once.idx_reader), each checked and checked
    against the other. The labels are a new array; the images may be `read`'s own (read-only)."""
    images = read(images_path)
    labels = read(labels_path)
    check_images(images, images_path)
    check_labels(labels, labels_path)
    check_pair(images, labels, images_path, labels_path)
    return images, labels.astype(np.int64)


def check_images(images: np.ndarray, path: str | Path) -> None:
    """An images file holds at least one image of at least one dimension."""
    check_image_shape(images.shape, path)


def check_image_shape(shape: tuple[int, ...], path: str | Path) -> None:
    """The shape of an images file: at least one image of at least one dimension."""
    if len(shape) < 2:
        raise DataError(f"{path}: expected images (count x rows x columns), got 1 dimension")
    if shape[0] == 0:
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
    check_counts(len(images), len(labels), images_path, labels_path)


def check_counts(images: int, labels: int, images_path: str | Path,
                 labels_path: str | Path) -> None:
    """As many labels as images."""
    if images != labels:
        raise DataError(f"{labels_path}: {labels} labels for {images} images in {images_path}")


def write_idx(path: Path, array: np.ndarray, gz: bool = True, rows: int = 4096) -> None:
    """Write `array` (uint8, int8, or int16/int32/float32/float64) as an IDX file, gzipped or
    not, atomically, `rows` examples at a time (no big-endian copy of the whole array)."""
    codes = {f"{dtype.kind}{dtype.itemsize}": code for code, dtype in IDX_TYPES.items()}
    kind = f"{array.dtype.kind}{array.dtype.itemsize}"
    if kind not in codes:
        raise DataError(f"cannot store {array.dtype} values in an IDX file")
    big = array.dtype.newbyteorder(">")
    header = bytes([0, 0, codes[kind], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with atomic_file(path) as out, (
            gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) if gz
            else nullcontext(out)) as stream:
        stream.write(header)
        for start in range(0, len(array), rows):
            stream.write(np.ascontiguousarray(array[start:start + rows], dtype=big).tobytes())

"""IDX files written by hand for the tests (header + big-endian payload with struct / numpy),
never with nnctl code, so that a reader bug cannot cancel out against a writer bug."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from nnctl.io.examples import STANDARD_NAMES

# Facts of the IDX format (LeCun's description): type code -> big-endian element type.
IDX_FORMAT = {
    0x08: ">u1",  # unsigned byte
    0x09: ">i1",  # signed byte
    0x0B: ">i2",  # short
    0x0C: ">i4",  # int
    0x0D: ">f4",  # float
    0x0E: ">f8",  # double
}
CODE_OF_KIND = {np.dtype(v).newbyteorder("="): k for k, v in IDX_FORMAT.items()}


def idx_header(code: int, dims) -> bytes:
    dims = tuple(dims)
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array, code: int | None = None) -> bytes:
    """A complete IDX file for `array`: magic, type code, ndim, big-endian sizes, big-endian
    data."""
    array = np.asarray(array)
    if code is None:
        code = CODE_OF_KIND[array.dtype.newbyteorder("=")]
    return idx_header(code, array.shape) + array.astype(IDX_FORMAT[code]).tobytes()


def write_file(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx(path: Path, array, code: int | None = None, gz: bool = False) -> Path:
    return write_file(path, idx_bytes(array, code), gz)


def sample_values(code: int, shape, seed: int = 0) -> np.ndarray:
    """Values spanning the type's range (negative ones for signed types), in native byte order."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(IDX_FORMAT[code]).newbyteorder("=")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        flat = values.reshape(-1)
        if flat.size >= 2:  # the extremes, which exercise every byte
            flat[0], flat[-1] = info.min, info.max
        return values
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


def write_dataset(directory: Path, images, labels, *, gz: bool = True, test: bool = True) -> Path:
    """The four standard MNIST file names in `directory` (test split = the same data)."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(directory / (STANDARD_NAMES["train_images"] + suffix), images, gz=gz)
    write_idx(directory / (STANDARD_NAMES["train_labels"] + suffix), labels, gz=gz)
    if test:
        write_idx(directory / (STANDARD_NAMES["test_images"] + suffix), images, gz=gz)
        write_idx(directory / (STANDARD_NAMES["test_labels"] + suffix), labels, gz=gz)
    return directory


def small_images(n: int = 20, shape=(8, 6), seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    images[0].flat[0], images[0].flat[1] = 0, 255  # the ends of the pixel range
    return images

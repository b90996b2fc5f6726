"""Small data sets of our own for the data set tests: arrays, their IDX files, a catalog with
their sums, and an archive laid out like EMNIST's."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
from conftest import write_idx
from mirrors import GZ_NAMES

from nnctl.io.examples import STANDARD_NAMES


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_arrays(n_train=200, n_test=50, shape=(28, 28), classes=4, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("test", n_test)):
        arrays[f"{prefix}_images"] = rng.integers(0, 256, (n, *shape)).astype(np.uint8)
        arrays[f"{prefix}_labels"] = rng.integers(0, classes, n).astype(np.uint8)
    return arrays


def write_dataset(directory: Path, arrays: dict, gz: bool = True) -> dict[str, bytes]:
    """The four standard files via conftest's write_idx; their bytes by key."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for key, array in arrays.items():
        path = directory / (STANDARD_NAMES[key] + (".gz" if gz else ""))
        write_idx(path, array, gz=gz)
        written[key] = path.read_bytes()
    return written


def catalog_for(files: dict[str, bytes], counts=None, name="tiny") -> dict:
    return {name: {
        "description": "test data",
        "mirrors": [],
        "counts": counts or {},
        "files": {key: {"name": GZ_NAMES[key], "size": None, "sha256": (sha256(data),),
                        "raw_sha256": None} for key, data in files.items()},
    }}


def emnist_like(files: dict[str, bytes]) -> tuple[bytes, dict]:
    """A zip laid out like NIST's gzip.zip, and a catalog entry for it."""
    members = {"train_images": "emnist-digits-train-images-idx3-ubyte.gz",
               "train_labels": "emnist-digits-train-labels-idx1-ubyte.gz",
               "test_images": "emnist-digits-test-images-idx3-ubyte.gz",
               "test_labels": "emnist-digits-test-labels-idx1-ubyte.gz"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("gzip/emnist-letters-train-labels-idx1-ubyte.gz", b"not ours")
        for key, member in members.items():
            zf.writestr(f"gzip/{member}", files[key])
    archive = buffer.getvalue()
    entry = {"mirrors": [], "counts": {"train": 200, "test": 50}, "transposed": True,
             "archive": {"name": "gzip.zip", "size": len(archive), "sha256": (sha256(archive),)},
             "files": {key: {"name": member, "sha256": ()} for key, member in members.items()}}
    return archive, {"emnist-like": entry}

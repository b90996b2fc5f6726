"""A dataset directory as the `data` commands see it: its two splits, the directory itself, and
its files (whether one can be opened without blocking, its SHA-256).

Where the four files of a directory are is nnctl.io.examples.standard_paths, as for training.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from nnctl.errors import DataError, one_line, unreadable
from nnctl.io.idx import MAX_PAYLOAD
from nnctl.io.inputs import open_regular

SPLITS = {"train": ("train_images", "train_labels"), "test": ("test_images", "test_labels")}
MAX_HASHED = 2 * MAX_PAYLOAD  # bytes: files beyond any IDX file nnctl reads are not hashed


def check_directory(directory: str | Path) -> Path:
    """`directory` as a Path; a DataError if it does not exist or is not a directory."""
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    return directory


def why_unreadable(path: Path, expected: str) -> str | None:
    """Why `path` cannot be opened as `expected` (a FIFO, a device, a directory, missing...),
    without blocking; None if it can be. The message does not repeat the path."""
    try:
        open_regular(path, expected, DataError).close()
    except DataError as e:
        return one_line(str(e).removeprefix(f"{path}: "))
    return None


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a regular file, read in 1 MiB blocks; a DataError if it cannot be read or
    has more than MAX_HASHED bytes (no dataset file is that large: hashing it would only take
    time)."""
    digest = hashlib.sha256()
    with open_regular(Path(path), "a data file", DataError, MAX_HASHED) as f:
        try:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        except OSError as e:
            raise DataError(unreadable(path, e, "a data file")) from None
    return digest.hexdigest()


def file_sums(paths: dict[str, Path]) -> dict[str, str | None]:
    """SHA-256 of each regular file among `paths`, by key (None if it cannot be read)."""
    sums: dict[str, str | None] = {}
    for key, path in paths.items():
        if path.is_file():
            try:
                sums[key] = sha256_file(path)
            except DataError:
                sums[key] = None
    return sums

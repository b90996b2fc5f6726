"""Atomic writes: a file is replaced whole or not at all, whatever happens (crash, SIGKILL, disk full).

Everything nnctl writes goes through `atomic_file`: a temporary file in the same directory,
flushed and fsync'd, then renamed over the target (and the directory fsync'd). On any error the
temporary file is removed and the previous version of the target, if any, is untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from nnctl.errors import NnctlError, RunDirError


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through; it becomes `path` only if the block succeeds."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # disk full, say: the previous file at `path` is untouched
        Path(tmp).unlink(missing_ok=True)
        raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def make_directory(path: str | Path, error: type[NnctlError] = RunDirError) -> Path:
    """Create an output directory (and its parents); a one-line `error` if it cannot be (a data
    directory's problem is a DataError, an output directory's a RunDirError: both exit 1)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise error(f"{path}: cannot create the directory: not a directory") from None
    except OSError as e:
        raise error(f"{path}: cannot create the directory: {e.strerror or e}") from None
    return path


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

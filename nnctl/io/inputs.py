"""Reading what the user gives: regular files only, within a size, never a FIFO that blocks."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from nnctl.errors import NnctlError, unreadable


def open_regular(path: Path, expected: str, error: type[NnctlError],
                 limit: int | None = None) -> BinaryIO:
    """`path` opened for reading, if it is a regular file (at most `limit` bytes long).

    A FIFO, a device or a socket is refused without being opened for a blocking read (a FIFO
    would wait forever for a writer). Errors are one-line `error`s naming the file.
    """
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise error(_not_regular(path, mode, expected))
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        raise error(unreadable(path, e, expected)) from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):  # replaced between the two looks
        problem = _not_regular(path, info.st_mode, expected)
    elif limit is not None and info.st_size > limit:
        problem = f"{path}: {info.st_size:,} bytes, more than the {limit:,} {expected} may have"
    if problem is not None:
        os.close(fd)
        raise error(problem)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links too); for a path that does not exist, whether
    they are spelled alike once made absolute."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _not_regular(path: Path, mode: int, expected: str) -> str:
    if stat.S_ISDIR(mode):
        return f"{path}: is a directory, expected {expected}"
    return f"{path}: not a regular file (a FIFO, device or socket), expected {expected}"

"""IDX files read once and handed, read-only, to the code that would read them again: a sweep's
driver reads each data file its trials name and shares the arrays with every trial (through
Ray's object store); a trial uses them in place of the file while the file is unchanged.

A file counts as unchanged while its size and modification time (nanoseconds) are those seen
when it was read; otherwise, or for a file not given, the file is read as always, so a trial
trains on exactly what its config's files hold when it starts, as `nnctl train` would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.errors import NnctlError
from nnctl.io.idx import read_idx

Stamp = tuple[int, int]  # (size in bytes, modification time in nanoseconds)


@dataclass(frozen=True)
class ReadFile:
    """The array of the IDX file at `path` (absolute), read-only, as it was when `stamp`."""

    path: str
    stamp: Stamp
    array: np.ndarray


def file_stamp(path: str | Path) -> Stamp | None:
    """The size and modification time of the file at `path` (following links), or None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def read_files(paths: Iterable[str | Path]) -> dict[str, ReadFile]:
    """Each distinct file of `paths` read once, by absolute path. A file that cannot be read,
    or that changed while it was read, is left out: whoever needs it reads it and reports what
    is wrong with it, as without this."""
    files = {}
    for path in dict.fromkeys(os.path.abspath(p) for p in paths):
        before = file_stamp(path)
        try:
            array = read_idx(path)
        except NnctlError:
            continue
        if before is not None and file_stamp(path) == before:
            array.setflags(write=False)  # as shared: nothing may write into it
            files[path] = ReadFile(path, before, array)
    return files


def idx_reader(given: Mapping[str, ReadFile] | None, mapped: bool = False
               ) -> Callable[[str | Path], np.ndarray]:
    """`read_idx` (`mapped` as it says), answered from `given` (absolute path -> ReadFile) for a
    file whose size and modification time are still those it was read with: that file is not
    opened."""
    def read(path: str | Path) -> np.ndarray:
        found = given.get(os.path.abspath(path)) if given else None
        if found is not None and file_stamp(path) == found.stamp:
            return found.array
        return read_idx(path, mapped=mapped)

    return read

"""Directories nnctl writes and marks as its own: a run, a sweep, a tour.

Each kind has a marker file in the directory (.nnctl-run, .nnctl-sweep, .nnctl-tour), held locked
by the one process writing the directory, which records its pid in it (markers.locked_marker).
The mechanism, once for every kind: a directory that holds something and has no marker is not
nnctl's (`refuse_foreign`); a directory is claimed by taking its marker's lock (`lock_marked`),
and then its own entries are checked; a refusal names the process that holds the lock
(`writer_pid`, `process_name`). A `MarkedKind` says, for one kind, its marker, what the marker
records, the check of its own entries and the words of each refusal.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnctl.errors import RunDirError
from nnctl.io.atomic import make_directory, remove_stale_temporaries
from nnctl.io.markers import holder_pid, locked_marker

# The marker of each kind, in one place (nnctl.io.path_kinds recognises directories by them).
RUN_MARKER, SWEEP_MARKER, TOUR_MARKER = ".nnctl-run", ".nnctl-sweep", ".nnctl-tour"


@dataclass(frozen=True)
class MarkedKind:
    """One kind of marked directory: the marker's name and record, the check of the directory's
    own entries, and the refusals of a marker that cannot be opened, is not a regular file, or
    is held by another process (given its pid, None if it has written none)."""

    marker: str
    record: dict[str, Any]  # written into the marker, with the pid of the process holding it
    check_entries: Callable[[Path], None]
    cannot_open: Callable[[Path, OSError], str]
    not_regular: Callable[[Path], str]
    busy: Callable[[Path, int | None], str]
    # where stale temporary files of a killed writer are removed once locked ("": the directory)
    temporaries: tuple[str, ...] = ()
    durable: bool = False  # the record is flushed to disk: other machines read it


def names_in(directory: Path) -> list[str]:
    """The names in `directory`; a one-line RunDirError if it cannot be read."""
    try:
        return [entry.name for entry in os.scandir(directory)]
    except OSError as e:
        raise RunDirError(f"{directory}: cannot read the directory: {e.strerror or e}") from None


def refuse_foreign(directory: Path, marker: str, refusal: Callable[[Path], str]) -> None:
    """Refuse (`refusal(directory)`) a directory that holds something and has no `marker`: it is
    not one nnctl made, and nnctl writes nothing there."""
    names = names_in(directory)
    if names and marker not in names:
        raise RunDirError(refusal(directory))


@contextmanager
def lock_marked(directory: Path, kind: MarkedKind, **record: Any) -> Iterator[Path]:
    """Hold `directory`'s marker lock for the block (the marker is created if missing), the
    marker recording kind.record, `record` and this process's pid; once it is held, the
    directory's own entries are checked and stale temporary files removed. While the block runs,
    what this process writes under the directory stays in it (atomic.confined)."""
    with locked_marker(directory / kind.marker, {**kind.record, **record, "pid": os.getpid()},
                       cannot_open=lambda e: kind.cannot_open(directory, e),
                       not_regular=kind.not_regular(directory),
                       busy=lambda fd: kind.busy(directory, holder_pid(fd, wait=True)),
                       durable=kind.durable):
        kind.check_entries(directory)
        for name in kind.temporaries:
            remove_stale_temporaries(directory / name)
        yield directory


def writer_pid(directory: Path, marker: str, wait: bool = False) -> int | None:
    """The pid of the process holding `directory`'s marker lock now, -1 if it has not written its
    pid yet (with `wait`, it is given a moment to), or None if no process holds the lock (no
    marker, or not a regular file)."""
    try:  # O_NONBLOCK: a FIFO planted as the marker must not hang us
        fd = os.open(directory / marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return holder_pid(fd, wait) or -1
    finally:
        os.close(fd)


def process_name(pid: int | None) -> str:
    """The holder of a lock as a refusal names it: `process PID`, or `another process`."""
    return f"process {pid}" if pid is not None and pid > 0 else "another process"


def new_numbered(base: Path) -> Path:
    """Create the first free base, base-2, base-3, ... (mkdir is atomic: one process wins each)."""
    make_directory(base.parent)
    for k in range(1, 100_000):
        candidate = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as e:
            raise RunDirError(f"{candidate}: cannot create the run directory: {e.strerror or e}"
                              ) from None
    raise RunDirError(f"{base}: no free run directory name left")

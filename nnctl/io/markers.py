"""A directory nnctl writes (a run, a sweep, a tour) carries a marker file, held locked (flock) by
the one process writing the directory, which records its pid in it; the kernel releases the lock
when that process ends, however it ends. While the lock is held, what the process writes under the
directory stays inside it (atomic.confined). Also: appending one JSON line durably (metrics.jsonl,
outcomes.jsonl), never through a symbolic link."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nnctl.errors import RunDirError
from nnctl.io.atomic import confined, not_ours, open_append, open_file
from nnctl.io.records import finite_json

# created if missing; a symlink is not followed, a FIFO planted as the marker never blocks open()
FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK


@contextmanager
def locked_marker(marker: Path, record: dict, *, cannot_open: Callable[[OSError], str],
                  not_regular: str, busy: Callable[[int], str], durable: bool = False
                  ) -> Iterator[int]:
    """Hold `marker`'s lock for the block, with `record` written into it (and flushed to disk if
    `durable`: other machines read it); yields its descriptor. Each refusal is a RunDirError with
    the caller's words: the marker cannot be opened or written (`cannot_open(error)`), is not a
    regular file (`not_regular`), or another process holds it (`busy(descriptor)`, which may
    read the holder's record). A symbolic link as the marker is refused. While the block runs,
    what this process writes under the marker's directory stays in it (atomic.confined)."""
    try:
        fd = open_file(marker, FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunDirError(not_ours(marker, "file")) from None
        raise RunDirError(cannot_open(e)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunDirError(not_regular)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(busy(fd)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            if durable:
                os.fsync(fd)
        except OSError as e:
            raise RunDirError(cannot_open(e)) from None
        with confined(marker.parent):
            yield fd
    finally:
        os.close(fd)  # releases the lock


def holder_pid(fd: int, wait: bool = False) -> int | None:
    """The pid a marker's holder wrote into it (at most 200 bytes are read), if any yet. The
    holder writes it right after taking the lock: with `wait`, one that has just taken it is
    given that moment (up to 0.5 s)."""
    for _ in range(50 if wait else 1):
        try:
            pid = json.loads(os.pread(fd, 200, 0)).get("pid")
        except (OSError, ValueError, AttributeError, RecursionError):
            pid = None
        if isinstance(pid, int) and pid:
            return pid
        if wait:
            time.sleep(0.01)
    return None


def append_json_line(path: Path, record: dict) -> None:
    """One JSON line appended to `path` and flushed to disk (non-finite numbers as null); a
    symbolic link or anything but a regular file at `path` is refused (atomic.open_append)."""
    line = (json.dumps(finite_json(record), allow_nan=False) + "\n").encode()
    try:
        with os.fdopen(open_append(path), "wb") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None

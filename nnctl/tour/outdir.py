"""The tour's output directory: claimed by one process at a time, never a directory of someone
else's files.

DIR/.nnctl-tour marks a directory the tour wrote (and is the file a running tour holds an OS lock
on, `flock`, released by the kernel however the process ends). A directory that holds anything
and has no marker is refused, with or without --force; a finished tour (its index.html) is
written again only with --force, which replaces the tour's own files by name and removes nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nnctl.atomic import make_directory
from nnctl.errors import RunDirError

TOUR_MARKER = ".nnctl-tour"
PAGE = "index.html"


def check_tour_dir(out: Path) -> None:
    """Refuse a file, and a directory that holds anything but a tour nnctl wrote."""
    if out.is_symlink() and not out.exists():
        raise RunDirError(f"{out}: is a broken symbolic link; choose another --out")
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory; choose another --out")
    if not out.is_dir():
        return
    try:
        entries = [entry.name for entry in os.scandir(out)]
    except OSError as e:
        raise RunDirError(f"{out}: cannot read the directory: {e.strerror or e}") from None
    if entries and TOUR_MARKER not in entries:
        raise RunDirError(f"{out}: exists and is not empty and has no {TOUR_MARKER} marker, so it "
                          "is not a tour nnctl wrote and nnctl will not write there (--force only "
                          "replaces a tour); choose another --out")


@contextmanager
def claim_tour_dir(out: Path, force: bool) -> Iterator[Path]:
    """`out` created if needed, marked and locked for the block. A second tour into it is refused
    while the first runs; a finished tour is replaced only with `force`."""
    check_tour_dir(out)
    make_directory(out)
    try:
        fd = os.open(out / TOUR_MARKER, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                     0o666)
    except OSError as e:
        raise RunDirError(f"{out / TOUR_MARKER}: cannot open the tour's marker: "
                          f"{e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunDirError(f"{out / TOUR_MARKER}: not a regular file, so not a tour nnctl "
                              "wrote; choose another --out")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirError(f"{out}: another nnctl tour is writing there ({_holder(fd)}); wait "
                              "for it to finish or choose another --out") from None
        if (out / PAGE).exists() and not force:
            raise RunDirError(f"{out}: already holds a tour; pass --force to write it again "
                              "(only the tour's own files are replaced), or choose another --out")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"nnctl_tour": 1, "pid": os.getpid()}).encode(), 0)
        yield out
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """The pid the holder wrote into the marker (at most 200 bytes are read)."""
    try:
        pid = json.loads(os.pread(fd, 200, 0)).get("pid")
    except (OSError, ValueError, AttributeError):
        pid = None
    return f"process {pid}" if isinstance(pid, int) else "another process"

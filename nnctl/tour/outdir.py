"""The tour's output directory: claimed by one process at a time, never a directory of someone
else's files.

DIR/.nnctl-tour marks a directory the tour wrote (and is the file a running tour holds an OS lock
on, `flock`, released by the kernel however the process ends). A directory that holds anything
and has no marker is refused, with or without --force; a finished tour (its index.html) is
written again only with --force, which replaces the tour's own files by name and removes nothing.
Its own entries (the marker, index.html, figures/ and runs/ with everything in them) must be what
nnctl made, never a symbolic link; while the tour runs nothing is written through a link under it
(atomic.confined).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nnctl.errors import RunDirError
from nnctl.io.atomic import check_entry, make_directory
from nnctl.io.marked_dirs import (
    TOUR_MARKER,
    MarkedKind,
    lock_marked,
    process_name,
    refuse_foreign,
)

PAGE = "index.html"


def check_tour_dir(out: Path) -> None:
    """Refuse a file, and a directory that holds anything but a tour nnctl wrote."""
    if out.is_symlink() and not out.exists():
        raise RunDirError(f"{out}: is a broken symbolic link; choose another --out")
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory; choose another --out")
    if out.is_dir():
        refuse_foreign(out, TOUR_MARKER, lambda out: (
            f"{out}: exists and is not empty and has no {TOUR_MARKER} marker, so it is not a tour "
            "nnctl wrote and nnctl will not write there (--force only replaces a tour); choose "
            "another --out"))


@contextmanager
def claim_tour_dir(out: Path, force: bool) -> Iterator[Path]:
    """`out` created if needed, marked and locked for the block. A second tour into it is refused
    while the first runs; a finished tour is replaced only with `force`."""
    check_tour_dir(out)
    make_directory(out)
    with lock_marked(out, TOUR):
        if (out / PAGE).exists() and not force:
            raise RunDirError(f"{out}: already holds a tour; pass --force to write it again "
                              "(only the tour's own files are replaced), or choose another --out")
        yield out


def check_tour_entries(out: Path) -> None:
    """Refuse a tour directory whose own entries are not what nnctl made: the marker and
    index.html regular files; figures/ a tree of directories and regular files; runs/ a
    directory of run directories (each run checks its own files when it is claimed)."""
    for name in (TOUR_MARKER, PAGE):
        check_entry(out / name, "file")
    for name in ("figures", "runs"):
        check_entry(out / name, "directory")
    for top, directories, files in os.walk(out / "figures"):  # links are listed, not followed
        for name in files:
            check_entry(Path(top) / name, "file")
        for name in directories:
            check_entry(Path(top) / name, "directory")
    runs = list(os.scandir(out / "runs")) if (out / "runs").is_dir() else []
    for entry in runs:
        check_entry(Path(entry.path), "directory")


TOUR = MarkedKind(
    marker=TOUR_MARKER, record={"nnctl_tour": 1}, check_entries=check_tour_entries,
    cannot_open=lambda out, e: (f"{out / TOUR_MARKER}: cannot open the tour's marker: "
                                f"{e.strerror or e}"),
    not_regular=lambda out: (f"{out / TOUR_MARKER}: not a regular file, so not a tour nnctl "
                             "wrote; choose another --out"),
    busy=lambda out, pid: (f"{out}: another nnctl tour is writing there ({process_name(pid)}); "
                           "wait for it to finish or choose another --out"))

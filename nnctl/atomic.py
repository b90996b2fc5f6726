"""Atomic writes: a file is replaced whole or not at all, whatever happens (crash, SIGKILL,
disk full).

Everything nnctl writes goes through `atomic_file`: a temporary file in the same directory,
flushed and fsync'd, then renamed over the target (and the directory fsync'd). On any error the
temporary file is removed and the previous version of the target, if any, is untouched.

A temporary file is named `.<target>.nnctl-<pid>.<random>.tmp`: one left by a process that was
killed (SIGKILL leaves no chance to clean up) is recognised by its dead pid and removed by the
next write into that directory (`remove_stale_temporaries`). Files get the mode any ordinary tool
gives them (0666 less the umask), and a replaced file keeps its own mode.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from nnctl.errors import NnctlError, RunDirError

# mkstemp adds 8 characters of [a-z0-9_]: `.NAME.nnctl-PID.XXXXXXXX.tmp` is no one else's name.
_TEMPORARY = re.compile(r"\..+\.nnctl-(\d+)\.[a-z0-9_]{8}\.tmp")


def _default_mode() -> int:
    """0666 less the process's umask (read from /proc where it can be: os.umask alone can only
    be read by setting it, which races with other threads)."""
    try:
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through; it becomes `path` only if the block succeeds."""
    path = Path(path)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = _default_mode()
    remove_stale_temporaries(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.nnctl-{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as e:
        raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
    try:
        os.fchmod(fd, mode)
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


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Remove the temporary files in `directory` that `atomic_file` left when its process was
    killed (their pid is no longer running); those of live writers are left alone."""
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _running(int(match[1])):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's live process (or a pid we cannot ask about): keep
    return True


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

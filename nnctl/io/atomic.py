"""Atomic writes: a file is replaced whole or not at all, whatever happens (crash, SIGKILL,
disk full), and never through a symbolic link planted in a directory nnctl owns.

Everything nnctl writes goes through `atomic_file`: a temporary file in the same directory,
flushed and fsync'd, then renamed over the target (and the directory fsync'd). On any error the
temporary file is removed and the previous version of the target, if any, is untouched. Both the
temporary file and the rename are relative to one descriptor of the directory, so the file lands
in the directory that was opened, whatever is renamed meanwhile.

A directory nnctl owns (a run, a sweep, a tour: `confined` while its lock is held) keeps what is
written under it inside it: every directory below it on the way to a file is opened without
following a symbolic link, and a link or special file where nnctl writes is refused. A directory
the user named for an output (`--figure dir/x.png`) is followed as named, but a file checked by
`outputs.check_output_file` is written only into the very directory that was checked
(`pin_directory`).

A temporary file is named `.<target>.nnctl-<pid>.<random>.tmp` (the target part cut short so the
name fits NAME_MAX bytes): one left by a process that was killed (SIGKILL leaves no chance to
clean up) is recognised by its dead pid and removed by the next write into that directory
(`remove_stale_temporaries`). Files get the mode any ordinary tool gives them (0666 less the
umask), and a replaced file keeps its own mode.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from nnctl.errors import NnctlError, RunDirError

# `.NAME.nnctl-PID.XXXXXXXX.tmp` (8 characters of [a-z0-9_]) is no one else's name.
_TEMPORARY = re.compile(r"\..+\.nnctl-(\d+)\.[a-z0-9_]{8}\.tmp", re.DOTALL)
_RANDOM = "abcdefghijklmnopqrstuvwxyz0123456789_"
NAME_MAX = 255  # bytes in one file name (Linux, and every file system nnctl is used on)
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CONFINED: list[Path] = []  # the nnctl directories this process holds (see `confined`)
_PINNED: dict[str, tuple[int, int]] = {}  # checked output file -> its directory's identity


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


# --------------------------------------------------------------------------- nnctl's directories


@contextmanager
def confined(root: str | Path) -> Iterator[Path]:
    """For the block, what this process writes under `root` (a run, sweep or tour directory it
    holds) stays inside it: `root` is taken as named (a link the user named is followed), every
    directory below it is opened without following a symbolic link, and a link or a special
    file where nnctl writes a file is refused (RunDirError)."""
    entry = Path(os.path.abspath(root))
    _CONFINED.append(entry)
    try:
        yield Path(root)
    finally:
        _CONFINED.remove(entry)


def _root_of(path: Path) -> Path | None:
    """The outermost confined directory `path` lies in (or is), if any."""
    absolute = Path(os.path.abspath(path))
    roots = [root for root in _CONFINED if root == absolute or root in absolute.parents]
    return min(roots, key=lambda root: len(root.parts)) if roots else None


def not_ours(path: Path, kind: str) -> str:
    """Why nnctl will not write at `path`, where it expected a `kind` it made."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        mode = 0
    what = ("is a symbolic link" if stat.S_ISLNK(mode) else "is a directory" if stat.S_ISDIR(mode)
            else "is a file" if stat.S_ISREG(mode) else "is a FIFO, device or socket")
    return (f"{path}: {what}, not the {kind} nnctl made there; nnctl writes nothing through it "
            "(remove it, or choose another directory)")


def check_entry(path: str | Path, kind: str, error: type[NnctlError] = RunDirError) -> None:
    """Refuse (one-line `error`) `path` unless it is missing or a `kind` ("file": a regular
    file, or "directory"), and not a symbolic link: an entry of a directory nnctl owns that nnctl
    did not make."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as e:
        raise error(f"{path}: cannot read: {e.strerror or e}") from None
    if not (stat.S_ISREG(mode) if kind == "file" else stat.S_ISDIR(mode)):
        raise error(not_ours(path, kind))


def open_directory(path: str | Path, *, create: bool = False,
                   error: type[NnctlError] = RunDirError) -> int:
    """A descriptor of the directory `path` (created with its parents if `create`). Below a
    confined root no symbolic link is followed: a link or a file on the way is a one-line
    `error`; elsewhere `path` is followed as named."""
    path = Path(path)
    root = _root_of(path)
    if root is None:
        if create:
            make_directory(path, error)
        try:
            return os.open(path, _DIRECTORY)
        except OSError as e:
            raise error(f"{path}: cannot open the directory: {e.strerror or e}") from None
    parts = Path(os.path.abspath(path)).relative_to(root).parts
    here = path
    for _ in parts:
        here = here.parent  # the root, as the caller names it
    try:
        fd = os.open(root, _DIRECTORY)
    except OSError as e:
        raise error(f"{here}: cannot open the directory: {e.strerror or e}") from None
    for part in parts:
        here = here / part
        try:
            if create:
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
            below = os.open(part, _DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError as e:
            os.close(fd)
            raise error(_cannot_open(here, e)) from None
        os.close(fd)
        fd = below
    return fd


def _cannot_open(path: Path, e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return f"{path}: no such directory"
    if e.errno in (errno.ELOOP, errno.ENOTDIR):  # a link, or a file where a directory goes
        return not_ours(path, "directory")
    return f"{path}: cannot open the directory: {e.strerror or e}"


def pin_directory(path: str | Path, error: type[NnctlError] = RunDirError) -> Path:
    """Remember which directory the output file `path` goes into (its parent, as it is now) and
    return that directory's real path: `atomic_file(path)` later writes there only, and refuses
    (RunDirError) if a directory or a symbolic link has been put in its place since."""
    path = Path(path)
    try:
        fd = os.open(path.parent, _DIRECTORY)
    except OSError as e:
        raise error(f"{path.parent}: cannot open the directory: {e.strerror or e}") from None
    try:
        status = os.fstat(fd)
        real = _real_path(fd, path.parent)
    finally:
        os.close(fd)
    _PINNED[os.path.abspath(path)] = (status.st_dev, status.st_ino)
    return real


def _real_path(fd: int, fallback: Path) -> Path:
    """The path of the directory open as `fd` (from /proc: whatever was renamed since)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return Path(os.path.realpath(fallback))


# --------------------------------------------------------------------------- atomic files


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write `path` through; it becomes `path` only if the block succeeds."""
    path = Path(path)
    directory = _open_parent(path)
    try:
        mode = _mode(directory, path)
        remove_stale_temporaries(directory)
        fd, tmp = _temporary(directory, path, mode)
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path.name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError as e:  # disk full, say: the previous file at `path` is untouched
            _unlink(tmp, directory)
            raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
        except BaseException:
            _unlink(tmp, directory)
            raise
        _fsync(directory)
    finally:
        os.close(directory)


def _open_parent(path: Path) -> int:
    """A descriptor of the directory `path` goes into (see `open_directory`)."""
    if _root_of(path) is not None:
        return open_directory(path.parent)
    try:
        return os.open(path.parent, _DIRECTORY)
    except OSError as e:
        raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None


def _mode(directory: int, path: Path) -> int:
    """The mode `path` will have: its own if it exists, else 0666 less the umask. Below a
    confined root it must be a regular file if it exists; a pinned output's directory must be
    the one that was checked."""
    identity = _PINNED.pop(os.path.abspath(path), None)
    if identity is not None and identity != _identity(directory):
        raise RunDirError(f"{path.parent}: was replaced since nnctl checked it (by a symbolic "
                          "link or another directory); nothing was written")
    inside = _root_of(path) is not None
    try:
        status = os.stat(path.name, dir_fd=directory, follow_symlinks=not inside)
    except OSError:
        return _default_mode()
    if inside and not stat.S_ISREG(status.st_mode):
        raise RunDirError(not_ours(path, "file"))
    return status.st_mode & 0o7777


def _identity(fd: int) -> tuple[int, int]:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def _temporary(directory: int, path: Path, mode: int) -> tuple[int, str]:
    """A new temporary file for `path` in `directory` (never through a link), with `mode`."""
    for _ in range(100):
        name = temporary_name(path.name)
        try:
            fd = os.open(name, _NEW_FILE, 0o600, dir_fd=directory)
        except FileExistsError:
            continue
        except OSError as e:
            raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
        try:
            os.fchmod(fd, mode)
        except OSError as e:
            os.close(fd)
            _unlink(name, directory)
            raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
        return fd, name
    raise RunDirError(f"{path}: cannot write: no free temporary file name")


def temporary_name(name: str) -> str:
    """`.<name>.nnctl-<pid>.<random>.tmp`, the name part cut (at a character) so that the whole
    fits NAME_MAX bytes."""
    tail = f".nnctl-{os.getpid()}.{''.join(secrets.choice(_RANDOM) for _ in range(8))}.tmp"
    head = os.fsencode(name)
    room = NAME_MAX - 1 - len(tail)
    if len(head) > room:
        while room > 1 and head[room] & 0xC0 == 0x80:  # not inside a UTF-8 character
            room -= 1
        head = head[:room]
    return "." + os.fsdecode(head) + tail


def _unlink(name: str, directory: int) -> None:
    try:
        os.unlink(name, dir_fd=directory)
    except OSError:
        pass


def _fsync(fd: int) -> None:
    """Make a rename in the directory open as `fd` durable (best effort: not every file system
    allows it)."""
    try:
        os.fsync(fd)
    except OSError:
        pass


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def make_directory(path: str | Path, error: type[NnctlError] = RunDirError) -> Path:
    """Create an output directory (and its parents); a one-line `error` if it cannot be (a data
    directory's problem is a DataError, an output directory's a RunDirError: both exit 1).
    Below a confined root, no symbolic link is followed (see `open_directory`)."""
    path = Path(path)
    if _root_of(path) is not None:
        os.close(open_directory(path, create=True, error=error))
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise error(f"{path}: cannot create the directory: not a directory") from None
    except OSError as e:
        raise error(f"{path}: cannot create the directory: {e.strerror or e}") from None
    return path


def open_file(path: str | Path, flags: int, mode: int = 0o666) -> int:
    """os.open(path, flags, mode), except that below a confined root the directories on the way
    are opened without following a symbolic link (a RunDirError if one is a link). Errors of the
    file's own open are the OSError os.open raises."""
    path = Path(path)
    if _root_of(path) is None:
        return os.open(path, flags, mode)
    directory = open_directory(path.parent)
    try:
        return os.open(path.name, flags, mode, dir_fd=directory)
    finally:
        os.close(directory)


def open_append(path: str | Path) -> int:
    """A descriptor to append to the file `path` (created if missing), never through a symbolic
    link and never blocking on a FIFO; anything but a regular file is a RunDirError."""
    path = Path(path)
    try:
        fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                       | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RunDirError(not_ours(path, "file")) from None
        raise RunDirError(f"{path}: cannot write: {e.strerror or e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunDirError(not_ours(path, "file"))
    return fd


# --------------------------------------------------------------------------- stale temporaries


def remove_stale_temporaries(directory: str | Path | int) -> list[Path]:
    """Remove the temporary files in `directory` (a path, or a descriptor) that `atomic_file`
    left when its process was killed (their pid is no longer running); those of live writers are
    left alone. Never through a symbolic link below a confined root."""
    if isinstance(directory, int):
        return [Path(name) for name in _remove_stale(directory)]
    try:
        fd = open_directory(directory)
    except NnctlError:
        return []
    try:
        return [Path(directory) / name for name in _remove_stale(fd)]
    finally:
        os.close(fd)


def _remove_stale(fd: int) -> list[str]:
    removed = []
    try:
        entries = list(os.scandir(fd))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _running(int(match[1])):
            try:
                os.unlink(entry.name, dir_fd=fd)
                removed.append(entry.name)
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

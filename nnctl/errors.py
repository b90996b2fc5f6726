"""The project's own error types: each carries a one-line message and the exit status."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def one_line(text: object) -> str:
    """A message (or an exception: an OSError by its strerror) folded onto one line."""
    if isinstance(text, BaseException):
        text = getattr(text, "strerror", None) or str(text) or type(text).__name__
    return " ".join(str(text).split())


def unreadable(path: object, error: OSError, expected: str) -> str:
    """The message for a file that cannot be opened: missing, a directory, or unreadable."""
    if isinstance(error, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(error, IsADirectoryError):
        return f"{path}: is a directory, expected {expected}"
    return f"{path}: cannot read: {one_line(error)}"


class NnctlError(Exception):
    """A problem the user can fix; the CLI prints `Error: <message>` and exits with `exit_code`."""

    exit_code = 1


class ConfigError(NnctlError):
    """A config file or --set override is not valid (exit status 2, like a usage error)."""

    exit_code = 2


class WrongKindError(NnctlError):
    """A path names the wrong kind of thing for the command: a run where a config is taken, an
    image where a checkpoint is (exit status 2, like a usage error); the message says what it is
    and what to do with it (nnctl.io.path_kinds)."""

    exit_code = 2


class OptionError(NnctlError):
    """An option's value is not one nnctl accepts, such as a figure name of an unknown format
    (exit status 2, like Click's usage errors)."""

    exit_code = 2


class DataError(NnctlError):
    """A data file is missing or malformed (exit status 1)."""


class CheckpointError(NnctlError):
    """A checkpoint is missing, malformed or does not fit (exit status 1)."""


class RunDirError(NnctlError):
    """The output directory cannot be used (exit status 1)."""


class OutputError(NnctlError):
    """Standard output cannot be written: closed, a full disk, an I/O error (exit status 1)."""


# The signals nnctl stops cleanly on, with their exit status: 128 + the number, as shells report.
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(NnctlError):
    """Stopped on SIGINT / SIGTERM after saving where it stood (exit status 130 / 143); the
    message says how to resume."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = SIGNAL_EXIT[signum]


class Diverged(Exception):
    """Raised by an engine: an example's loss was NaN or infinite.

    `done` examples of the chunk were trained before it. Not an NnctlError: training turns it
    into one that names the epoch and the example.
    """

    def __init__(self, done: int, loss: float):
        super().__init__(f"loss {loss} after {done} examples of the chunk")
        self.done, self.loss = done, loss


@contextmanager
def signals_to(handler: Callable[[int, object], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `handler(signum, frame)` during the block (only the main thread
    can set handlers: elsewhere nothing changes); the previous handlers are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in SIGNAL_EXIT}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)

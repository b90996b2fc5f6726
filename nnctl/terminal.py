"""What reaches the terminal: names shown safely, and a standard output that fails aloud.

Low level: imports nothing of nnctl's but its errors, so that the entry point can use it before
anything heavy is loaded.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING

from nnctl.errors import OutputError, one_line

if TYPE_CHECKING:
    from typing import TextIO

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _SHORT:
        return _SHORT[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _hidden(code: int) -> bool:
    """C0 controls, DEL and C1 controls, surrogates, the line and paragraph separators and the
    bidirectional overrides: characters that move the cursor, recolour, reorder or break a line."""
    return (code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000
            or code in (0x2028, 0x2029) or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069)


def shown(text: object) -> str:
    """`text` (a path, a file name, a message naming one) as it may be printed to a terminal or
    written in a figure: control characters escaped (`\\x1b`, `\\n`), a byte that is not UTF-8 as
    `\\xff`; everything else as it is. Idempotent: what it returns shows as itself."""
    text = os.fspath(text) if isinstance(text, os.PathLike) else text
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    text = str(text)
    if not any(_hidden(ord(char)) for char in text):
        return text
    return "".join(_escaped(char) if _hidden(ord(char)) else char for char in text)


def hold_standard_fds() -> None:
    """Put /dev/null on fds 0, 1 and 2 where they were closed when the program started
    (`nnctl ... >&-`), so that no file nnctl opens later gets one of their numbers (a
    checkpoint that became "standard error"). Fd 1 gets it read-only: a write to it still
    fails with EBADF, as the closed stdout did, and `guard_stdout` reports it. A closed stdin or
    stderr (Python's None) becomes a stream on /dev/null: what is written to stderr is dropped,
    as the user asked, and code that asks `sys.stderr.isatty()` keeps working."""
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            held = os.open(os.devnull, flags)
            if held != fd:
                os.dup2(held, fd)
                os.close(held)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's stdin
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115


class _GuardedStdout:
    """Standard output whose failures are the project's error (`OutputError`, exit 1), except a
    closed pipe (EPIPE: the reader is gone, as with `| head`), which stays a BrokenPipeError that
    ends the command quietly."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as e:
            raise _failed(e) from None

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise _failed(e) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _failed(error: OSError) -> OSError | OutputError:
    """What a failed write to standard output raises (see _GuardedStdout)."""
    if error.errno == errno.EPIPE:
        return BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
    return OutputError(f"cannot write to standard output: {one_line(error)}")


def guard_stdout() -> TextIO:
    """Make sys.stdout a `_GuardedStdout` and return it; a stdout closed at start (None) becomes
    one on fd 1 (see hold_standard_fds) whose writes fail with EBADF."""
    if not isinstance(sys.stdout, _GuardedStdout):
        if sys.stdout is None:
            hold_standard_fds()
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's stdout
        if hasattr(sys.stdout, "reconfigure"):  # a name that is not UTF-8 in --csv: its bytes
            sys.stdout.reconfigure(errors="surrogateescape")
        sys.stdout = _GuardedStdout(sys.stdout)
    return sys.stdout


def silence_stdout() -> None:
    """Point fd 1 at /dev/null: after standard output failed, what is still buffered cannot fail
    again when the interpreter flushes it at exit (`Exception ignored ...`, status 120)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 run`, `3 runs`, `1,000 examples`: a count and its noun, singular for one."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def phrase_lines(phrases: list[str], width: int) -> str:
    """`phrases` (each with its own punctuation: `3 runs in runs/:`, `network 784-10,`) joined by
    spaces into lines of at most `width` characters, broken only between phrases: a table's
    title that never wraps mid-phrase. A phrase longer than `width` gets a line of its own."""
    lines: list[str] = []
    for phrase in phrases:
        if lines and len(lines[-1]) + 1 + len(phrase) <= width:
            lines[-1] += " " + phrase
        else:
            lines.append(phrase)
    return "\n".join(lines)

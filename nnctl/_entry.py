"""The `nnctl` command's entry point: the console script and `python -m nnctl` call `main`.

Importing this module is the program's first act, and it installs at once, before anything heavy
is loaded, a handler that ends the program on SIGINT / SIGTERM quietly with 130 / 143 (one line,
no traceback: nothing has been done yet). `main` loads the command line and parses it under
that handler; the previous handlers come back as the command starts (the commands then handle
signals themselves); once it has ended, its exit status stands (a signal afterwards, during
Click's last steps or the interpreter's shutdown, is ignored).

Only the entry point imports this module: `import nnctl` changes no signal handler.
"""

# _signal (the builtin under `signal`) and os are loaded before any program runs: importing them
# runs no Python code, so no moment passes before the handler is in. `signal` itself is not.
import _signal
import os

_SIGNALS = (_signal.SIGINT, _signal.SIGTERM)


def _stop_quietly(signum: int, frame: object) -> None:
    """Exit at once: raising would unwind through whatever is importing, where an exception can
    turn into another one (`Error calling __set_name__`) and end as a traceback."""
    name = b"SIGINT" if signum == _signal.SIGINT else b"SIGTERM"
    try:
        os.write(2, name + b": stopped while starting; nothing was done\n")
    except OSError:
        pass
    os._exit(128 + signum)


_PREVIOUS = {s: _signal.signal(s, _stop_quietly) for s in _SIGNALS}  # INSTALLED: see the tests

from nnctl.terminal import hold_standard_fds  # after the handler, on purpose

hold_standard_fds()


def _command_starts() -> None:
    for s, handler in _PREVIOUS.items():
        _signal.signal(s, handler)


def _command_ended() -> None:
    for s in _SIGNALS:
        _signal.signal(s, _signal.SIG_IGN)


def main() -> int:
    """Run the command line (sys.argv) and return its exit status."""
    from nnctl.cli import main as run_cli

    try:
        return run_cli(signals=(_command_starts, _command_ended))
    finally:
        _command_ended()

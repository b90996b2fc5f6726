"""The `nnctl` command and `python -m nnctl`.

A Ctrl-C (or SIGTERM) while the program is still importing its libraries ends it quietly with
130 (143), not with a traceback; the commands then handle signals themselves; once a command has
ended, its exit status stands (a signal during the interpreter's shutdown is ignored).
"""

import signal
import sys

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_quietly(signum: int, frame: object) -> None:
    sys.stderr.write(f"{signal.Signals(signum).name}: stopped while starting; nothing was done\n")
    raise SystemExit(128 + signum)


def main() -> None:
    previous = {s: signal.signal(s, _stop_quietly) for s in _SIGNALS}
    from nnctl.cli import main as run_cli

    for s, handler in previous.items():
        signal.signal(s, handler)
    try:
        run_cli()
    finally:
        for s in _SIGNALS:
            signal.signal(s, signal.SIG_IGN)


if __name__ == "__main__":
    main()

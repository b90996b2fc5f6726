"""`nnctl sweep`: many configurations and seeds in one command, each trial an ordinary run
directory trained by the same function as `nnctl train`, on Ray (embedded, or a cluster).

spec.py     SWEEP.yaml -> a validated sweep and its trials
state.py    the sweep directory: marker and lock, sweep.json, outcomes.jsonl
trial.py    one trial where a Ray worker runs it (no Ray import)
runner.py   Ray: start or connect, the trials as tasks, ASHA's decisions, signals
results.py  points ranked by the validation metric; results.csv, results.jsonl, the best point
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from nnctl.errors import Interrupted, signals_to


@contextmanager
def stop_while_starting() -> Iterator[None]:
    """For the block (the sweep's libraries importing, a second or so, and its file read, until
    `run_sweep` takes over the signals), SIGINT / SIGTERM end the command with a one-line
    message and 130 / 143, nothing written. The previous handlers are put back after."""

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(f"{signal.Signals(signum).name}: stopped while starting; nothing was "
                          "written", signum)

    with signals_to(stop):
        yield

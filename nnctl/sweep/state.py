"""The sweep directory: claiming and locking it, the sweep it holds, the outcomes of its trials.

DIR/
  .nnctl-sweep     marker: a sweep nnctl made, locked (flock) while a process runs it; holds the
                   sweep's token, which every trial checks (is DIR the same directory there?)
  sweep.json       the sweep as expanded: base config, parameters, every trial (written once)
  outcomes.jsonl   one JSON line per finished trial, and per early-stopping report (appended)
  trials/<id>/     one ordinary run directory per trial (nnctl runs, evaluate, plot... read them)
  results.csv, results.jsonl                      written when the sweep ends, with its figures:
  metric-vs-KEY.png, best-curves.png              the metric against each swept config key KEY,
                                                  the learning curves of the best points

Each of them is what nnctl made (regular files; trials/ and each trial a directory), never a
symbolic link: a sweep directory where one is not is refused when it is locked, and while it is
nothing is written through a link under it (atomic.confined; a trial confines its writes to the
sweep directory too, see trial.run_trial).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nnctl.errors import ConfigError, RunDirError
from nnctl.figures.sweep import FIGURE_NAME
from nnctl.io.atomic import atomic_write_text, check_entry, make_directory
from nnctl.io.inputs import open_regular
from nnctl.io.marked_dirs import (
    SWEEP_MARKER,
    MarkedKind,
    lock_marked,
    names_in,
    new_numbered,
)
from nnctl.io.markers import append_json_line
from nnctl.sweep.spec import Sweep, sweep_from_dict

MAX_SWEEP_BYTES = 64 << 20  # 10,000 trials with their values
MAX_OUTCOMES_BYTES = 64 << 20
OWN_FILES = (SWEEP_MARKER, "sweep.json", "outcomes.jsonl", "results.csv", "results.jsonl",
             "best-curves.png")


def new_sweep_dir(out: Path | None, name: str) -> Path:
    """An empty directory for a new sweep: `out`, or the first free runs/NAME[-k] (numbered as
    train's run directories are)."""
    if out is None:
        return new_numbered(Path("runs") / name)
    check_new_sweep_dir(out)
    return make_directory(out)


def check_new_sweep_dir(out: Path | None, marker: Path | None = None) -> None:
    """The checks of `new_sweep_dir`, without writing anything (`marker`: a file in `out` that
    this process made, not counted)."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory")
    if (out / "sweep.json").exists():
        raise RunDirError(f"{out}: already holds a sweep; continue it with: nnctl sweep --resume "
                          f"{out} (or choose another --out)")
    if out.is_dir() and any(out / name != marker for name in names_in(out)):
        raise RunDirError(f"{out}: exists and is not empty; nnctl writes a sweep only into a new "
                          "or empty directory")


@contextmanager
def lock_sweep(directory: Path, token: str) -> Iterator[Path]:
    """Hold the sweep's lock for the block; its marker records `token` and this process. Its own
    entries are checked and stale temporary files removed first."""
    with lock_marked(directory, SWEEP, token=token):
        yield directory


def check_sweep_entries(directory: Path) -> None:
    """Refuse a sweep directory whose own entries are not what nnctl made (a symbolic link, a
    FIFO or a directory where a file goes; a link or a file as trials/ or as a trial's run
    directory)."""
    for name in (*OWN_FILES, *(n for n in names_in(directory) if FIGURE_NAME.fullmatch(n))):
        check_entry(directory / name, "file")
    check_entry(directory / "trials", "directory")
    try:
        trials = list(os.scandir(directory / "trials"))
    except OSError:
        return
    for entry in trials:
        check_entry(directory / "trials" / entry.name, "directory")


SWEEP = MarkedKind(
    marker=SWEEP_MARKER, record={"nnctl_sweep": 1},
    check_entries=lambda directory: check_sweep_entries(directory),  # late-bound: tests replace it
    cannot_open=lambda directory, e: (f"{directory}: cannot write the sweep directory: "
                                      f"{e.strerror or e}"),
    not_regular=lambda directory: (f"{directory / SWEEP_MARKER}: not a regular file, so not a "
                                   "sweep nnctl made"),
    busy=lambda directory, pid: (f"{directory}: another nnctl sweep is running it ({pid or '?'}); "
                                 "wait for it or stop it"),
    temporaries=("",), durable=True)  # durable: trials on other nodes read the token


def _marker(directory: Path) -> dict:
    try:
        with open_regular(directory / SWEEP_MARKER, "a sweep marker", RunDirError, 4096) as f:
            record = json.loads(f.read(4096))
    except (RunDirError, ValueError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def shared_problem(directory: str, token: str) -> str | None:
    """Called where a trial runs: why `directory` is not the sweep's own directory there (another
    marker or token, or none: a node that does not share the file system), or None."""
    if _marker(Path(directory)).get("token") == token:
        return None
    import socket

    return (f"{directory}: not this sweep's directory on node {socket.gethostname()}: the sweep "
            "directory must be on a file system every Ray node shares, at the same path")


def check_shared(directory: str, token: str) -> None:
    problem = shared_problem(directory, token)
    if problem:
        raise RunDirError(problem)


# --------------------------------------------------------------------------- sweep.json


def new_token() -> str:
    return secrets.token_hex(16)


def write_sweep(directory: Path, sweep: Sweep, token: str) -> None:
    """Store the expanded sweep and its token."""
    atomic_write_text(directory / "sweep.json", json.dumps({"nnctl_sweep": 1, "token": token,
                                                            **sweep.as_dict()}) + "\n")


def read_sweep(directory: Path) -> tuple[Sweep, str]:
    """The sweep stored in `directory` and its token; a one-line error if there is none."""
    if not directory.is_dir():
        raise RunDirError(f"{directory}: no such sweep directory")
    if not (directory / SWEEP_MARKER).is_file():
        raise RunDirError(f"{directory}: not a sweep directory (no {SWEEP_MARKER})")
    path = directory / "sweep.json"
    with open_regular(path, "a sweep file", RunDirError, MAX_SWEEP_BYTES) as f:
        text = f.read(MAX_SWEEP_BYTES + 1)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise RunDirError(f"{path}: not a sweep file of nnctl (damaged?)") from None
    try:
        sweep = sweep_from_dict(data, str(path))
    except ConfigError as e:  # the sweep file's own checks: a sweep.json nnctl did not write
        raise RunDirError(f"{e}; not a sweep file of nnctl (damaged?)") from None
    if not isinstance(data.get("token"), str) or data.get("nnctl_sweep") != 1:
        raise RunDirError(f"{path}: no token or nnctl_sweep: 1; not a sweep file of nnctl "
                          "(damaged?)")
    return sweep, data["token"]


# --------------------------------------------------------------------------- outcomes.jsonl


def append_outcome(directory: Path, record: dict) -> None:
    """One JSON line, flushed to disk."""
    append_json_line(directory / "outcomes.jsonl", record)


def read_outcomes(directory: Path) -> list[dict]:
    """The records of outcomes.jsonl in order (a last line cut short by a crash is left out)."""
    path = directory / "outcomes.jsonl"
    if not path.exists():
        return []
    with open_regular(path, "an outcomes file", RunDirError, MAX_OUTCOMES_BYTES) as f:
        *lines, _cut_short = f.read(MAX_OUTCOMES_BYTES + 1).split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not _is_outcome_record(record):
            raise RunDirError(f"{path}: line {number}: not an outcome record of nnctl")
        records.append(record)
    return records


FINAL = ("finished", "stopped", "early-stopped", "diverged", "failed")


def _is_outcome_record(record: object) -> bool:
    """{"trial": id, "outcome": {"status": ..., figures}} or {"trial": id, "rung": epoch,
    "value": metric}."""
    if not isinstance(record, dict) or not isinstance(record.get("trial"), str):
        return False
    if "outcome" in record:
        outcome = record["outcome"]
        return isinstance(outcome, dict) and outcome.get("status") in FINAL and all(
            value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            for key, value in outcome.items()
            if key in ("epochs", "val_accuracy", "val_loss", "test_accuracy", "seconds"))
    value = record.get("value")
    return (isinstance(record.get("rung"), int) and not isinstance(record.get("rung"), bool)
            and (value is None or (isinstance(value, (int, float))
                                   and not isinstance(value, bool))))


def trial_dir(directory: Path, trial_id: str) -> Path:
    return directory / "trials" / trial_id

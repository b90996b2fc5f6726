"""The run directory: choosing and claiming it, its lock, its metrics file, what resuming may
change.

runs/NAME/
  .nnctl-run               the marker: this directory is a run nnctl made. A process that writes
                           the run holds an OS lock on it (flock), which the kernel releases when
                           the process ends, however it ends; it names that process's pid.
  config.yaml              the resolved config
  checkpoints/epoch-NNN.npz  one per epoch (000: the initial weights); with training.keep:
                           best-last only checkpoints/layer1-NNN.npy, the first layer's first
                           100 units, for the montage of the weights over epochs
  checkpoints/best.npz     best validation accuracy
  checkpoints/last.npz     where training stands: the commit point of every epoch, and of an
                           interrupted one (its metadata's `progress` says how far it got)
  metrics.jsonl            one JSON line per finished epoch
  summary.json             written when training ends

A run belongs to one process at a time: choosing and creating a directory is one atomic step
(mkdir), and every writer takes the lock before it reads or writes anything in the run.
`--force` removes only the files above, and only in a directory that carries the marker.
Every one of them must be what nnctl made (a regular file; checkpoints/ a directory), never a
symbolic link: a run directory where one is not is refused, and while the run is locked nothing
is written or removed through a link (atomic.confined).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from nnctl.errors import ConfigError, RunDirError
from nnctl.io import marked_dirs
from nnctl.io.atomic import (
    atomic_write_text,
    check_entry,
    confined,
    make_directory,
    not_ours,
    open_directory,
)
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import (
    Config,
    config_from_dict,
    config_to_dict,
    flatten,
    load_config,
    parse_override,
    set_dotted,
)
from nnctl.io.inputs import open_regular
from nnctl.io.markers import append_json_line
from nnctl.io.path_kinds import is_run

RUN_MARKER = marked_dirs.RUN_MARKER
# summary.json's `status`: how the last process that trained the run ended. `runs` adds
# "running" (a process holds the lock) and "killed" (no summary: the process died, say SIGKILL).
STATUSES = ("finished", "stopped", "diverged", "interrupted")  # stopped: by a stop condition
COMPLETE = ("finished", "stopped")
OWN_FILES = ("config.yaml", "metrics.jsonl", "summary.json")
CHECKPOINT_NAME = re.compile(r"(epoch-\d{3,}|best|last)\.npz|layer1-\d{3,}\.npy")
# Keys a resumed run may change with --set: they decide when to stop, not what is computed.
SAFE_TO_CHANGE = ("training.epochs", "training.stop.no_mistakes", "training.stop.tolerance",
                  "training.stop.patience")


def checkpoint_path(run_dir: Path, name: str) -> Path:
    return run_dir / "checkpoints" / name


def owning_run(path: str | Path) -> Path | None:
    """The run directory whose own file (or checkpoints/ entry) `path` is, if any; symbolic
    links are followed, so a link to a run's file is that file."""
    real = Path(os.path.realpath(path))
    parent = real.parent
    if parent.name == "checkpoints" and is_run(parent.parent):
        return parent.parent
    if real.name in (*OWN_FILES, RUN_MARKER, "checkpoints") and is_run(parent):
        return parent
    return None


def has_checkpoint(run_dir: Path) -> bool:
    return checkpoint_path(run_dir, "last.npz").is_file()


# --------------------------------------------------------------------------- claiming and locking


def check_new_run_dir(out: Path, force: bool = False) -> None:
    """The checks of `claim_run_dir` on `out`, without writing anything (so that a run that
    would be refused is refused before its data is loaded)."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory")
    if out.is_dir():
        pid = marked_dirs.writer_pid(out, RUN_MARKER, wait=True)
        if pid is not None:
            raise RunDirError(_busy(out, pid))
        _check_replaceable(out, force)


def _check_replaceable(out: Path, force: bool) -> None:
    marked_dirs.refuse_foreign(out, RUN_MARKER, _foreign)
    check_run_entries(out)
    if has_checkpoint(out) and not force:
        raise RunDirError(f"{out}: already holds a run; continue it with --resume {out}, or "
                          "pass --force to start it over")


@contextmanager
def claim_run_dir(out: str | Path | None, name: str, force: bool = False) -> Iterator[Path]:
    """A new run directory, created and locked for the block: `out`, or the first free
    runs/NAME[-k]. Two processes claiming the same one end with two runs or one clean refusal.

    `out` is refused if it holds anything but a run nnctl made, and if it holds a run with a
    checkpoint, unless `force` (then that run's own files are removed; nothing else is).
    A run that never reached its first checkpoint is replaced without `force`: nothing is lost.
    """
    if out is None:
        run_dir = marked_dirs.new_numbered(Path("runs") / name)
    else:
        run_dir = Path(out)
        check_new_run_dir(run_dir, force)  # before the lock: a folder not ours gets no marker
        make_directory(run_dir)
    with lock_run(run_dir) as locked:
        _check_replaceable(locked, force)  # again, now that no other process can change it
        reset_run_files(locked)
        yield locked


@contextmanager
def lock_run(run_dir: Path) -> Iterator[Path]:
    """Hold the run's lock for the block (its marker is created if missing); a one-line error
    naming the process that holds it already. Its own entries are checked and stale temporary
    files removed first."""
    with marked_dirs.lock_marked(run_dir, RUN) as locked:
        yield locked


def check_run_entries(run_dir: Path) -> None:
    """Refuse a run directory whose own entries are not what nnctl made: the marker, config,
    metrics and summary regular files, checkpoints/ a directory and the checkpoints in it regular
    files (a symbolic link, a FIFO or a directory in their place would take nnctl's writes, or
    its --force removals, elsewhere)."""
    for name, kind in ((RUN_MARKER, "file"), *((name, "file") for name in OWN_FILES),
                       ("checkpoints", "directory")):
        check_entry(run_dir / name, kind)
    try:
        entries = list(os.scandir(run_dir / "checkpoints"))
    except OSError:
        return
    for entry in entries:
        if CHECKPOINT_NAME.fullmatch(entry.name) and not entry.is_file(follow_symlinks=False):
            raise RunDirError(not_ours(run_dir / "checkpoints" / entry.name, "file"))


def writer_pid(run_dir: Path) -> int | None:
    """The pid of the process writing the run now (-1 if it has not written its pid yet), or
    None if no process holds its lock."""
    return marked_dirs.writer_pid(run_dir, RUN_MARKER)


def _foreign(run_dir: Path) -> str:
    """The refusal of a directory that holds something and has no run marker."""
    what = "holds a run of an older nnctl" if is_run(run_dir) else "exists and is not empty"
    return (f"{run_dir}: {what} and has no {RUN_MARKER} marker, so nnctl will not write there "
            "(--force only replaces runs nnctl made); choose another --out")


def _cannot_open(run_dir: Path, e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return f"{run_dir}: no such run directory"
    return f"{run_dir}: cannot write the run directory: {e.strerror or e}"


def _busy(run_dir: Path, pid: int | None) -> str:
    return (f"{run_dir}: is being written by {marked_dirs.process_name(pid)}; wait for it to "
            "finish or stop it (its run is then resumable)")


RUN = marked_dirs.MarkedKind(
    marker=RUN_MARKER, record={"nnctl_run": 1},
    check_entries=lambda run_dir: check_run_entries(run_dir),  # late-bound: tests replace it
    cannot_open=_cannot_open,
    not_regular=lambda run_dir: (f"{run_dir / RUN_MARKER}: not a regular file (a FIFO, device "
                                 "or socket), so not a run nnctl made"),
    busy=_busy, temporaries=("", "checkpoints"))  # checkpoints/: left by a killed writer


def reset_run_files(run_dir: Path) -> None:
    """Remove what a run writes (its files and checkpoints), nothing else and never through a
    symbolic link, leaving an empty checkpoints/ and metrics.jsonl (which shows that the
    directory can be written)."""
    with confined(run_dir):
        checkpoints = open_directory(run_dir / "checkpoints", create=True)
        try:
            _remove_own(checkpoints, [entry.name for entry in os.scandir(checkpoints)
                                      if CHECKPOINT_NAME.fullmatch(entry.name)
                                      and entry.is_file(follow_symlinks=False)], run_dir)
        except OSError as e:
            raise RunDirError(f"{run_dir}: cannot read the run directory: {e.strerror or e}"
                              ) from None
        finally:
            os.close(checkpoints)
        top = open_directory(run_dir)
        try:
            _remove_own(top, OWN_FILES, run_dir)
        finally:
            os.close(top)
        atomic_write_text(run_dir / "metrics.jsonl", "")


def _remove_own(directory: int, names: Sequence[str], run_dir: Path) -> None:
    """Unlink `names` in the directory open as `directory` (a link is removed, not followed)."""
    for name in names:
        try:
            os.unlink(name, dir_fd=directory)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise RunDirError(f"{run_dir}: cannot write the run directory: {e.strerror or e}"
                              ) from None


# --------------------------------------------------------------------------- run files


# summary.json's figures: numbers or null
SUMMARY_NUMBERS = ("epochs", "best_epoch", "best_val_accuracy", "test_loss", "test_accuracy",
                   "train_seconds")


def read_summary(run_dir: Path) -> dict | None:
    """summary.json as a dict, or None if it is missing or not one (see load_summary)."""
    try:
        return load_summary(run_dir)
    except RunDirError:
        return None


def load_summary(run_dir: Path) -> dict | None:
    """summary.json as a dict (None if there is none); a one-line RunDirError if it is not a
    summary of nnctl: a JSON object of at most 1 MiB with a known status, its figures numbers
    or null."""
    path = run_dir / "summary.json"
    try:
        with open_regular(path, "a summary", RunDirError, 1 << 20) as f:
            text = f.read()
    except RunDirError:
        if not os.path.lexists(path):
            return None
        raise
    try:
        summary = json.loads(text)
    except (ValueError, RecursionError):
        raise RunDirError(f"{path}: not valid JSON; not a summary of nnctl") from None
    problem = (("not a JSON object" if not isinstance(summary, dict) else None)
               or (f"status {summary.get('status')!r:.40} is none of {', '.join(STATUSES)}"
                   if summary.get("status") not in STATUSES else None)
               or _not_numbers(summary, SUMMARY_NUMBERS))
    if problem:
        raise RunDirError(f"{path}: {problem}; not a summary of nnctl")
    return summary


def _not_numbers(record: dict, keys: tuple[str, ...]) -> str | None:
    """What is wrong with a record whose `keys`, where present, must be numbers or null."""
    for key in keys:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key} is not a number"
    return None


def append_metrics(run_dir: Path, record: dict) -> None:
    """One JSON line per epoch, flushed to disk before the epoch's last.npz commits it."""
    append_json_line(run_dir / "metrics.jsonl", record)


# A metrics line must have these, numbers all; the validation ones only with a validation split.
METRIC_KEYS = ("epoch", "train_loss", "train_accuracy", "train_mistakes", "learning_rate",
               "seconds")
OPTIONAL_METRIC_KEYS = ("val_loss", "val_accuracy")
MAX_METRICS_BYTES = 64 << 20  # 200,000 epochs of metrics


def read_metrics(run_dir: Path, lenient: bool = False,
                 required: tuple[str, ...] = METRIC_KEYS) -> list[dict]:
    """The records of a run's metrics.jsonl, one per finished epoch, in order.

    Works while the run is being trained: a last line without its newline is being appended and
    is left out. Any other line that is not a metrics record (a JSON object whose `required` keys,
    and validation figures if present, are numbers or null) is a one-line RunDirError naming the
    file and the line (skipped when `lenient`). At most MAX_METRICS_BYTES are read.
    """
    path = run_dir / "metrics.jsonl"
    with open_regular(path, "a metrics file", RunDirError, limit=MAX_METRICS_BYTES) as f:
        *lines, _being_written = f.read(MAX_METRICS_BYTES + 1).split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _metrics_record(line, required)
        if isinstance(record, str):
            if lenient:
                continue
            raise RunDirError(f"{path}: line {number}: {record}; not a metrics file of nnctl")
        records.append(record)
    return records


def _metrics_record(line: bytes, required: tuple[str, ...]) -> dict | str:
    """One line's record, or what is wrong with it."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except (ValueError, RecursionError):
        return "not valid JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [key for key in required if key not in record]
    if missing:
        return f"no {missing[0]}"
    return _not_numbers(record, (*required, *OPTIONAL_METRIC_KEYS)) or record


def restore_history(run_dir: Path, epochs: int) -> list[dict]:
    """The metrics of epochs 1..epochs, read back for a resume; `metrics.jsonl` is cut to them
    (lines past them were written before a crash and are redone)."""
    path = run_dir / "metrics.jsonl"
    cannot = "the run cannot be resumed (start it over with --force)"
    try:
        history = read_metrics(run_dir)[:epochs]
    except RunDirError as e:
        raise RunDirError(f"{e}; {cannot}") from None
    if ([record["epoch"] for record in history] != list(range(1, epochs + 1))
            or any(record[key] is None for record in history for key in METRIC_KEYS)):
        raise RunDirError(f"{path}: does not hold the metrics of epochs 1 to {epochs}, where the "
                          f"checkpoint is; {cannot}")
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in history))
    return history


def changed_keys(a: Config, b: Config) -> list[str]:
    fa, fb = flatten(config_to_dict(a)), flatten(config_to_dict(b))
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


def resume_config(run_dir: Path, overrides: Sequence[str] = (),
                  config_path: str | Path | None = None) -> Config:
    """The config to continue a run with: the one it was trained with, plus safe --set overrides.

    Refused: a directory that is not a run, a config.yaml (or a CONFIG given) that differs from
    the one the checkpoints were trained with in any key outside SAFE_TO_CHANGE, and --set of
    such a key. Differences in SAFE_TO_CHANGE keys (an earlier `--resume --set training.epochs=N`
    wrote them to config.yaml, or the user edited them) are taken over. A run stopped before its
    first checkpoint is resumed from the beginning, with the config.yaml it saved.
    """
    last = checkpoint_path(run_dir, "last.npz")
    saved = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    check_run_entries(run_dir)  # nothing is read through a link either
    if last.exists():
        trained = config_from_dict(load_checkpoint(last)[1]["config"], str(last))
    elif is_run(run_dir) and saved.is_file():
        trained = load_config(saved)
    else:
        raise RunDirError(f"{run_dir}: nothing to resume (not a run directory: no "
                          "checkpoints/last.npz and no config.yaml)")
    raw = config_to_dict(trained)
    compared = [saved] if saved.exists() else []
    if config_path is not None:
        compared.append(Path(config_path))
    for path in compared:
        given = load_config(path)
        changed = changed_keys(trained, given)
        unsafe = [key for key in changed if key not in SAFE_TO_CHANGE]
        if unsafe:
            raise ConfigError(
                f"{path}: differs from the config the run was trained with in "
                f"{', '.join(unsafe)}; resume continues the same experiment (start a new run "
                f"for a different one; {', '.join(SAFE_TO_CHANGE)} may be changed)"
            )
        flat = flatten(config_to_dict(given))
        for key in changed:  # when to stop: taken from the file
            set_dotted(raw, key, flat[key], source=str(path))
    keys = []
    for item in overrides:
        key, value = parse_override(item)
        if key not in SAFE_TO_CHANGE:
            raise ConfigError(f"--set {key}: cannot be changed when resuming; only "
                              f"{', '.join(SAFE_TO_CHANGE)} can")
        set_dotted(raw, key, value, source="--set")
        keys.append(key)
    return config_from_dict(raw, str(saved), keys)

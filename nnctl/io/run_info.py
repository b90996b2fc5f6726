"""Reading run directories: what each one is and how it stands, and what differs between them.

Used by `nnctl runs` (a table of runs), `nnctl plot` (legends) and sweeps. Nothing here writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from nnctl.errors import NnctlError, RunDirError, one_line
from nnctl.io.checkpoint import read_metadata, stored_config
from nnctl.io.config import PATH_KEYS, config_to_dict, flatten, load_config
from nnctl.io.run_dir import (
    SAFE_TO_CHANGE,
    STATUSES,
    checkpoint_path,
    is_run,
    load_summary,
    read_metrics,
    writer_pid,
)
from nnctl.terminal import shown

T = TypeVar("T")

MAX_DEPTH = 3  # run directories are looked for this deep below a directory given (sweeps nest)
# Keys that always differ between runs and say nothing about the experiment.
IGNORED = PATH_KEYS


@dataclass
class RunInfo:
    """One run as `nnctl runs` lists it."""

    path: Path
    status: str  # running, finished, stopped, diverged, interrupted, killed, new, damaged
    config: dict  # flattened: {"training.learning_rate": 0.1, ...}
    network: str  # 784-300-10
    rule: str
    epochs: int  # epochs completed
    best_epoch: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None  # of the best checkpoint, once the run is complete
    seconds: float | None  # training time of the epochs completed
    problem: str | None = None  # why the run is damaged: its first file that is not nnctl's

    def as_dict(self, keys: list[str]) -> dict:
        return {"run": str(self.path), "status": self.status, "network": self.network,
                "rule": self.rule, "training.epochs": self.config.get("training.epochs"),
                **{key: self.config.get(key) for key in keys},
                "epochs": self.epochs, "best_epoch": self.best_epoch,
                "best_val_accuracy": self.best_val_accuracy,
                "test_accuracy": self.test_accuracy, "seconds": self.seconds,
                "problem": self.problem}


def find_runs(paths: list[Path]) -> list[Path]:
    """The run directories given, and those below the other directories given (sorted)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise RunDirError(f"{path}: no such directory")
        found.extend([path] if is_run(path) else _runs_below(path, MAX_DEPTH))
    return found


def _runs_below(directory: Path, depth: int) -> list[Path]:
    try:
        children = sorted((Path(e.path) for e in os.scandir(directory)
                           if e.is_dir(follow_symlinks=False)), key=_natural)
    except OSError:
        return []
    found = []
    for child in children:
        if is_run(child):
            found.append(child)
        elif depth > 1:
            found.extend(_runs_below(child, depth - 1))
    return found


def _natural(path: Path) -> tuple:
    """mlp-2 before mlp-10."""
    stem, _, number = path.name.rpartition("-")
    return (stem, int(number)) if number.isdigit() else (path.name, 0)


def read_run(path: Path) -> RunInfo:
    """What `path` holds, from its files and its lock. A damaged run (a file that is not what
    nnctl wrote: its checkpoint, its stored config, config.yaml, summary.json, metrics.jsonl) is
    listed as damaged, with the first problem found."""
    problems: list[str] = []
    meta = _read(problems, lambda: _last_metadata(path)) or {}
    summary = _read(problems, lambda: load_summary(path)) or {}
    metrics = _read(problems, lambda: read_metrics(path)
                    if os.path.lexists(path / "metrics.jsonl") else [])
    saved = _read(problems, lambda: _saved_config(path))
    config = _config(meta, saved)
    if metrics is not None and len(metrics) < meta.get("epoch", 0):
        problems.append(f"{path / 'metrics.jsonl'}: holds {len(metrics)} epochs, last.npz "
                        f"{meta['epoch']}")
    progress = meta.get("progress") or {}
    problem = problems[0] if problems else None
    return RunInfo(
        path=path,
        status=status(path, meta, summary, problem),
        config=config or {},
        network="-".join(map(str, meta["sizes"])) if "sizes" in meta else "?",
        rule=str((config or {}).get("training.rule", "?")),
        epochs=meta.get("epoch", 0),
        best_epoch=progress.get("best_epoch"),
        best_val_accuracy=progress.get("best_val_accuracy"),
        test_accuracy=summary.get("test_accuracy"),
        seconds=sum(m.get("seconds") or 0 for m in metrics) if metrics else None,
        problem=problem,
    )


def _config(meta: dict, saved: dict | None) -> dict | None:
    """The flattened config the run goes on with: the one its checkpoints were trained with,
    with the keys a resume may change (when to stop) from config.yaml, where a resume writes
    them, as `resume_config` takes them (a resume that had nothing left to train writes no
    checkpoint)."""
    if not meta:
        return saved
    config = flatten(meta["config"])
    for key in SAFE_TO_CHANGE:
        if saved and key in saved:
            config[key] = saved[key]
    return config


def _read(problems: list[str], read: Callable[[], T]) -> T | None:
    """What `read` returns, or None with its error's message added to `problems`."""
    try:
        return read()
    except NnctlError as e:
        problems.append(one_line(e))
        return None


def _last_metadata(path: Path) -> dict | None:
    """last.npz's metadata, checked, with its stored config (None before the first checkpoint)."""
    last = checkpoint_path(path, "last.npz")
    if not os.path.lexists(last):
        return None
    meta = read_metadata(last)
    stored_config(meta, last)
    return meta


def _saved_config(path: Path) -> dict | None:
    """config.yaml, checked and flattened (None if there is none)."""
    saved = path / "config.yaml"
    return flatten(config_to_dict(load_config(saved))) if os.path.lexists(saved) else None


def status(path: Path, meta: dict, summary: dict, problem: str | None = None) -> str:
    """running (a process holds the lock), damaged (`problem`), else how the last process ended
    (summary.json's status); killed if it ended without saying (SIGKILL, a crash); new before
    any checkpoint."""
    if writer_pid(path) is not None:
        return "running"
    if problem is not None:
        return "damaged"
    if summary.get("status") in STATUSES:
        return summary["status"]
    return "killed" if meta else "new"


def differing_keys(runs: list[RunInfo]) -> list[str]:
    """The config keys whose values are not the same in every run (data paths left out)."""
    keys = sorted({key for run in runs for key in run.config} - set(IGNORED))
    return [key for key in keys
            if len({json.dumps(run.config.get(key), sort_keys=True) for run in runs}) > 1]


def labels(runs: list[RunInfo]) -> list[str]:
    """Short names telling the runs apart: the differing keys' values (`lr=0.05 hidden=[300]`),
    with the run's name where they are all the same (control characters escaped: they go in
    a figure's legend)."""
    keys = differing_keys(runs)
    if not keys:
        return [shown(run.path.name) for run in runs]
    return [shown(" ".join(f"{short_key(key)}={value_text(run.config.get(key))}" for key in keys))
            for run in runs]


def short_key(key: str) -> str:
    """The last part of a dotted key, with the common long names shortened."""
    last = key.rsplit(".", 1)[-1]
    return {"learning_rate": "lr", "activation": "act"}.get(last, last)


def value_text(value: object) -> str:
    """A config value in a label: 0.05, [300,100], relu."""
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value).replace(" ", "")


SORT_KEYS = ("name", "status", "epochs", "val_accuracy", "test_accuracy", "seconds")


def sort_runs(runs: list[RunInfo], key: str) -> list[RunInfo]:
    """By name (natural order), or by a figure, best first (missing figures last)."""
    if key == "name":
        return runs
    if key == "status":
        return sorted(runs, key=lambda run: run.status)
    attribute = {"val_accuracy": "best_val_accuracy"}.get(key, key)
    ascending = key == "seconds"
    present = [run for run in runs if getattr(run, attribute) is not None]
    missing = [run for run in runs if getattr(run, attribute) is None]
    return sorted(present, key=lambda run: getattr(run, attribute), reverse=not ascending) + missing


def run_labels(paths: list[Path]) -> list[str]:
    """`labels` of the runs at `paths` (for plot legends)."""
    return labels([read_run(path) for path in paths])


def mean_sd(values: list[float]) -> tuple[float, float]:
    """The mean and the sample standard deviation (n - 1 in the denominator; 0 for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


@dataclass
class SeedSummary:
    """The runs of one configuration over several seeds: mean and sample standard deviation."""

    runs: int
    seeds: list[int]
    test_accuracy_mean: float
    test_accuracy_sd: float
    best_epochs: list[int]
    seconds_median: float | None


def summarise_seeds(infos: list[RunInfo]) -> SeedSummary:
    """Mean ± sd (n - 1 in the denominator) of the test accuracy of complete runs."""
    done = [info for info in infos if info.test_accuracy is not None]
    if not done:
        raise RunDirError(f"{infos[0].path.parent if infos else 'runs'}: no complete run to "
                          "summarise")
    mean, sd = mean_sd([info.test_accuracy for info in done])
    seconds = sorted(info.seconds for info in done if info.seconds is not None)
    return SeedSummary(len(done), [info.config.get("training.seed") for info in done], mean, sd,
                       [info.best_epoch for info in done],
                       seconds[len(seconds) // 2] if seconds else None)

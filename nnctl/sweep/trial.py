"""One trial, where a Ray worker runs it: `nnctl train` (or `train --resume`) of the trial's
config into its run directory, up to a number of epochs, and what came of it.

Nothing here imports Ray: the worker calls `run_trial` by reference, and it is the same training
function `nnctl train` calls. A trial that finds a checkpoint in its directory (its worker was
killed, the sweep was stopped, or it goes on from an early-stopping rung) resumes from it, so it
loses at most the part of an epoch after its last checkpoint, and its checkpoints are the ones an
uninterrupted run writes.

The data files the sweep's driver read once (`data.share_data_files`) come as `preread`:
top-level task arguments, which Ray hands over as read-only numpy arrays in the node's shared
object store, one copy per node whatever the number of workers; training uses them instead of
reading the files again (while the files are unchanged: io.read_once).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from nnctl.errors import Interrupted, NnctlError, RunDirError, one_line
from nnctl.io.atomic import check_entry, confined
from nnctl.io.checkpoint import read_metadata
from nnctl.io.config import Config, config_from_dict
from nnctl.io.read_once import ReadFile
from nnctl.io.run_dir import (
    SAFE_TO_CHANGE,
    changed_keys,
    checkpoint_path,
    has_checkpoint,
    read_metrics,
    read_summary,
    resume_config,
)
from nnctl.sweep.state import check_shared


def run_trial(raw_config: dict, source: str, run_dir: str, epochs: int, sweep_dir: str,
              token: str, *preread: ReadFile) -> dict:
    """Train the trial in `run_dir` until `epochs` (or a stop condition), its data files taken
    from `preread` where given; its outcome: status (finished, stopped, diverged, failed,
    interrupted), message and figures (`trial_figures`)."""
    from nnctl.tasks.train import TrainingDiverged, train

    started = time.perf_counter()
    path = Path(run_dir)
    outcome = {"status": "failed", "message": None, "resumed_from": None,
               "node": socket.gethostname()}
    given = {file.path: file for file in preread}
    try:
        check_shared(sweep_dir, token)
        config = config_from_dict(raw_config, source)
        config.training.epochs = epochs
        with confined(sweep_dir):  # trials/ and the trial's directory: never through a link
            for directory in (path.parent, path):
                check_entry(directory, "directory")
            if has_checkpoint(path) or (path / "config.yaml").is_file():
                outcome["resumed_from"] = _epochs_done(path)
                train(_resumed_config(path, config), path, resume=True, preread=given)
            else:
                train(config, path, preread=given)
        outcome["status"] = (read_summary(path) or {}).get("status", "failed")
    except TrainingDiverged as e:
        outcome.update(status="diverged", message=str(e))
    except Interrupted as e:
        outcome.update(status="interrupted", message=str(e))
    except NnctlError as e:
        outcome.update(status="failed", message=str(e))
    return {**outcome, **trial_figures(path), "wall": time.perf_counter() - started}


def _resumed_config(path: Path, config: Config) -> Config:
    """The config to resume the run in `path` with: the trial's, checked against the run's."""
    resumed = resume_config(path, [f"training.epochs={config.training.epochs}"])
    changed = [key for key in changed_keys(config, resumed) if key not in SAFE_TO_CHANGE]
    if changed:
        raise RunDirError(f"{path}: holds a run of another config than this trial's (differs in "
                          f"{', '.join(changed)}); it was changed outside the sweep")
    return resumed


def _epochs_done(path: Path) -> int:
    try:
        return int(read_metadata(checkpoint_path(path, "last.npz")).get("epoch", 0))
    except (NnctlError, TypeError, ValueError):
        return 0


def trial_figures(path: Path) -> dict:
    """A trial's figures from its run directory: epochs done, the best validation accuracy and
    its epoch, the lowest validation loss, the last epoch's validation figures (what early
    stopping compares), the test accuracy of the kept weights, and the training time."""
    try:
        history = read_metrics(path, lenient=True) if path.is_dir() else []
    except RunDirError as e:
        return {"epochs": 0, "message": one_line(e)}
    summary = read_summary(path) or {}
    accuracies = [r["val_accuracy"] for r in history if r.get("val_accuracy") is not None]
    losses = [r["val_loss"] for r in history if r.get("val_loss") is not None]
    last = history[-1] if history else {}
    return {
        "epochs": len(history),
        "best_epoch": summary.get("best_epoch"),
        "val_accuracy": max(accuracies) if accuracies else None,
        "val_loss": min(losses) if losses else None,
        "last": {key: last.get(key) for key in ("epoch", "val_accuracy", "val_loss")},
        "test_accuracy": summary.get("test_accuracy"),
        "seconds": sum(r.get("seconds") or 0 for r in history),
    }

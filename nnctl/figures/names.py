"""How runs and checkpoints are named in figures: the legend of learning curves, the titles of
weight and evaluation figures. Names from the file system are escaped (nnctl.terminal.shown)."""

from __future__ import annotations

import os
from pathlib import Path

from nnctl.io.run_dir import owning_run
from nnctl.io.run_info import differing_keys, read_run, short_key, value_text
from nnctl.terminal import shown

SHORT_KEYS = 32  # characters: the differing keys join a run's name only within so many


def run_names(paths: list[Path]) -> list[str]:
    """The runs' directory names; where two are the same, their paths from the folder that
    holds them all (`sweep/a/trial-1`, `sweep/b/trial-1`)."""
    names = [Path(os.path.abspath(path)).name for path in paths]
    if len(set(names)) < len(names):
        absolute = [os.path.abspath(path) for path in paths]
        common = os.path.commonpath(absolute)
        names = [os.path.relpath(path, common) if path != common else name
                 for path, name in zip(absolute, names)]
    return [shown(name) for name in names]


def legend_labels(paths: list[Path]) -> list[str]:
    """A label per run for a legend: its name (`run_names`), followed by the config keys whose
    values differ between the runs (`mlp-300 (lr=0.1 hidden=[300])`) when they read in at most
    SHORT_KEYS characters for every run; by its name alone otherwise."""
    names = run_names(paths)
    runs = [read_run(Path(path)) for path in paths]
    keys = differing_keys(runs)
    if not keys:
        return names
    differences = [shown(" ".join(f"{short_key(key)}={value_text(run.config.get(key))}"
                                  for key in keys)) for run in runs]
    if max(map(len, differences)) > SHORT_KEYS:
        return names
    return [f"{name} ({difference})" for name, difference in zip(names, differences)]


def checkpoint_name(target: str | Path) -> str:
    """What a figure calls the network of `target`: a run directory's name, the name of the run
    a checkpoint belongs to (`mlp-300`, or `mlp-300, epoch-003.npz` for one of its other
    checkpoints), else the checkpoint file's name."""
    target = Path(target)
    if target.is_dir():
        return shown(Path(os.path.abspath(target)).name)
    run = owning_run(target)
    if run is None:
        return shown(target.name)
    if target.name == "best.npz":
        return shown(run.name)
    return shown(f"{run.name}, {target.name}")

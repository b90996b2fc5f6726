"""A sweep's data, read once: the data files its trials name, read by the driver and put into
Ray's object store, where every worker of a node maps the same read-only arrays instead of
reading and holding a copy of its own (full MNIST: 55 MB of pixels per worker).

A trial receives the object refs of its files as top-level task arguments, which Ray resolves
to `ReadFile`s whose arrays are backed by the node's shared memory (no copy); io.read_once uses
them while the files are unchanged. A file that cannot be read here is left to the trial, which
reports it as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nnctl.io.examples import data_paths
from nnctl.io.read_once import read_files
from nnctl.sweep.spec import Sweep, Trial


def trial_files(sweep: Sweep, trials: Iterable[Trial]) -> dict[str, list[str]]:
    """The data files (absolute paths) each trial's training reads, by trial id."""
    return {trial.id: [str(path) for path in data_paths(sweep.config(trial).data).values()]
            for trial in trials}


def share_data_files(put: Callable, sweep: Sweep, trials: Iterable[Trial]) -> dict[str, list]:
    """Each distinct data file of `trials` read once and `put` (ray.put) once; by trial id,
    what `put` returned for each of its files that could be read."""
    wanted = trial_files(sweep, trials)
    files = read_files(path for paths in wanted.values() for path in paths)
    shared = {path: put(file) for path, file in files.items()}
    return {trial: [shared[path] for path in paths if path in shared]
            for trial, paths in wanted.items()}

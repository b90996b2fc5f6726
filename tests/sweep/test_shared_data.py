"""A sweep's data read once (sweep/data.py, io/read_once.py), without Ray: the driver's side
reads each distinct data file once, read-only; a trial given the arrays opens no data file and
writes the checkpoints of a trial that reads them; a file changed since is read again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import checkpoints, write_idx

import nnctl.io.idx
import nnctl.io.read_once
from nnctl.io.read_once import ReadFile, read_files
from nnctl.sweep import state
from nnctl.sweep.data import share_data_files, trial_files
from nnctl.sweep.spec import load_sweep
from nnctl.sweep.trial import run_trial


def a_sweep(data_dir: Path):
    """Four points that read the same files differently: plain and deskewed, the reference and
    the fused engine; the fused ones with distortions and dropout, the deskewed with a limit."""
    base = {"model": {"hidden": [12]},
            "training": {"epochs": 2, "dropout": {"input": 0.1, "hidden": 0.2}},
            "data": {"dir": str(data_dir), "validation": 40,
                     "augment": {"affine": {"rotation": 10}}}}
    path = data_dir.parent / "shared.yaml"
    path.write_text(yaml.safe_dump({"base": base, "seeds": [3], "parameters": {
        "data.deskew": {"values": [False, True]},
        "training.engine": {"values": ["reference", "fused"]}}}))
    return load_sweep(path)


@pytest.fixture
def sweep_dir(tmp_path):
    """A sweep directory (its marker holds the token trials check) for run_trial."""
    token = state.new_token()
    directory = state.new_sweep_dir(tmp_path / "sweep", "shared")
    with state.lock_sweep(directory, token):
        yield directory, token


def trial_run(sweep, trial, where: tuple[Path, str], name: str, *files: ReadFile) -> Path:
    """The trial run in a run directory of its own, as a Ray worker runs it."""
    directory, token = where
    run_dir = directory / name / trial.id
    run_dir.parent.mkdir(exist_ok=True)
    outcome = run_trial(trial.raw_config(sweep.base), sweep.point_name(trial.point), str(run_dir),
                        2, str(directory), token, *files)
    assert outcome["status"] == "finished", outcome
    return run_dir


def test_the_driver_reads_each_distinct_file_once_read_only(tiny_dataset, monkeypatch):
    sweep = a_sweep(tiny_dataset())
    reads = []
    read_idx = nnctl.io.read_once.read_idx
    monkeypatch.setattr(nnctl.io.read_once, "read_idx", lambda p: reads.append(p) or read_idx(p))
    shared = share_data_files(lambda file: file, sweep, sweep.trials)
    assert sorted(reads) == sorted({p for ps in trial_files(sweep, sweep.trials).values()
                                    for p in ps}) and len(reads) == 4
    for trial in sweep.trials:
        files = shared[trial.id]
        assert [f.path for f in files] == trial_files(sweep, [trial])[trial.id]
        assert all(not f.array.flags.writeable for f in files)
        assert all(np.array_equal(f.array, read_idx(f.path)) for f in files)


def test_a_trial_given_the_arrays_opens_no_data_file_and_writes_the_same_checkpoints(
        tiny_dataset, sweep_dir, monkeypatch):
    data_dir = tiny_dataset()
    sweep = a_sweep(data_dir)
    read_dirs = {trial.id: trial_run(sweep, trial, sweep_dir, "read") for trial in sweep.trials}
    shared = share_data_files(lambda file: file, sweep, sweep.trials)
    open_regular = nnctl.io.idx.open_regular

    def no_data_file(path, *args, **kwargs):
        assert Path(path).parent != data_dir, f"{path} opened"
        return open_regular(path, *args, **kwargs)

    monkeypatch.setattr(nnctl.io.idx, "open_regular", no_data_file)
    for trial in sweep.trials:
        given = trial_run(sweep, trial, sweep_dir, "given", *shared[trial.id])
        assert checkpoints(given) == checkpoints(read_dirs[trial.id]) != {}
        tested = [json.loads((run_dir / "summary.json").read_text())["test_accuracy"]
                  for run_dir in (given, read_dirs[trial.id])]
        assert tested[0] == tested[1]


def test_a_file_changed_after_the_driver_read_it_is_read_again(tiny_dataset, sweep_dir):
    data_dir = tiny_dataset()
    sweep = a_sweep(data_dir)
    trial = sweep.trials[0]
    shared = share_data_files(lambda file: file, sweep, [trial])[trial.id]
    stale = trial_run(sweep, trial, sweep_dir, "stale", *shared)
    labels = data_dir / "train-labels-idx1-ubyte.gz"
    changed = (nnctl.io.idx.read_idx(labels) + 1) % 3  # other labels, the same size
    stamp = os.stat(labels)
    write_idx(labels, changed.astype(np.uint8))
    os.utime(labels, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1000))
    given = trial_run(sweep, trial, sweep_dir, "given", *shared)
    read = trial_run(sweep, trial, sweep_dir, "read")
    assert checkpoints(given) == checkpoints(read) != checkpoints(stale)


def test_a_file_the_driver_cannot_read_is_left_to_the_trial(tiny_dataset):
    data_dir = tiny_dataset()
    (data_dir / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not an IDX file")
    (data_dir / "t10k-images-idx3-ubyte.gz").unlink()
    files = read_files(sorted(data_dir.iterdir()))
    assert sorted(Path(p).name for p in files) == ["train-images-idx3-ubyte.gz",
                                                   "train-labels-idx1-ubyte.gz"]

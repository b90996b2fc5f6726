"""data.stream: the training inputs made a chunk at a time from the pixels as read (an
uncompressed file memory-mapped), never all at once: the same weights as without, bit for bit,
in both engines, with dropout and distortions too."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import yaml
from idxfiles import write_dataset

import nnctl.engine.fused
import nnctl.tasks.train
from nnctl.errors import ConfigError, DataError
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import config_from_dict
from nnctl.io.examples import BUNDLED_DIR, load_training_data, standard_paths
from nnctl.io.idx import read_idx
from nnctl.tasks.train import train

N = 6000  # more than a fused chunk (4,096 examples)
EXTRAS = {
    "plain": {},
    "dropout": {"training": {"dropout": {"input": 0.2, "hidden": 0.5}}},
    "distortions": {"data": {"augment": {"affine": {"rotation": 10.0}}}},
}


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    """The first N MNIST digits, as uncompressed IDX files (train and test alike)."""
    paths = standard_paths(BUNDLED_DIR)
    images, labels = read_idx(paths["train_images"])[:N], read_idx(paths["train_labels"])[:N]
    return write_dataset(tmp_path_factory.mktemp("raw"), images, labels, gz=False)


def config(raw_dir, engine: str, stream: bool, extra: dict, **data):
    raw = {"model": {"hidden": [16]},
           "training": {"epochs": 1, "engine": engine, "learning_rate": 0.05,
                        **extra.get("training", {})},
           "data": {"dir": str(raw_dir), "validation": 500, "stream": stream,
                    **extra.get("data", {}), **data}}
    return config_from_dict(yaml.safe_load(yaml.safe_dump(raw)), "test")


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_streamed_training_learns_the_same_weights(tmp_path, raw_dir, engine, extra):
    weights = {}
    for stream in (False, True):
        train(config(raw_dir, engine, stream, EXTRAS[extra]), tmp_path / str(stream))
        weights[stream] = load_checkpoint(tmp_path / str(stream) / "checkpoints" / "last.npz")[0]
    for A, B in zip(weights[False].weights + weights[False].biases,
                    weights[True].weights + weights[True].biases):
        np.testing.assert_array_equal(A, B)


def test_the_fused_engine_never_makes_all_the_inputs_when_streamed(tmp_path, raw_dir,
                                                                   monkeypatch):
    real = nnctl.engine.fused.to_sparse_rows

    def spy(x):
        made.append(len(x))
        bytes_given.append(x.as_pixels() is not None)  # the chunk's pixels, not its floats
        return real(x)

    made, bytes_given = [], []
    monkeypatch.setattr(nnctl.engine.fused, "to_sparse_rows", spy)
    train(config(raw_dir, "fused", True, {}), tmp_path / "streamed")
    assert made and max(made) <= 4096 and sum(made) == N - 500 and all(bytes_given)
    made.clear()
    train(config(raw_dir, "fused", False, {}), tmp_path / "whole")
    assert made == [N - 500]  # without: the sparse rows of all of them, once


def test_streamed_pixels_are_mapped_from_an_uncompressed_file(raw_dir):
    streamed = load_training_data(config(raw_dir, "fused", True, {}).data, "float32")
    held = load_training_data(config(raw_dir, "fused", False, {}).data, "float32")
    assert isinstance(streamed.train.x.pixels, np.memmap)
    assert not isinstance(held.train.x.pixels, np.memmap)
    rows = np.array([17, 3, 4000, 3, 0])  # out of order, repeated: read in file order inside
    np.testing.assert_array_equal(streamed.train.x[rows], held.train.x[rows])
    limited = load_training_data(config(raw_dir, "fused", True, {}, limit=1000).data, "float32")
    assert len(limited.train) == 500 and isinstance(limited.train.x.pixels, np.memmap)


def test_stream_and_deskew_do_not_go_together(raw_dir):
    with pytest.raises(ConfigError, match="data.stream: cannot go with data.deskew"):
        config(raw_dir, "fused", True, {}, deskew=True)


@pytest.mark.parametrize("stream", [True, False])
def test_a_mapped_file_changed_during_training_stops_it_after_the_epoch(tmp_path, raw_dir,
                                                                         monkeypatch, stream):
    """The file's modification time moves during epoch 1 (as a rewrite in place would move
    it): a streamed run, which maps the file, stops after that epoch with a one-line DataError,
    epoch 1's checkpoint kept; a run that read the file into memory trains on."""
    data = shutil.copytree(raw_dir, tmp_path / "data")
    images = data / "train-images-idx3-ubyte"
    real = nnctl.tasks.train._train_epoch

    def epoch_then_touch(run, *args):
        record = real(run, *args)
        stamp = images.stat().st_mtime_ns + 10**9
        os.utime(images, ns=(stamp, stamp))
        return record

    monkeypatch.setattr(nnctl.tasks.train, "_train_epoch", epoch_then_touch)
    c = config(data, "fused", stream, {})
    c.training.epochs = 3
    run_dir = tmp_path / "run"
    if not stream:
        train(c, run_dir)
        assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3
        return
    with pytest.raises(DataError) as e:
        train(c, run_dir)
    assert str(e.value).startswith(f"{images}: changed while training read it")
    assert "stopped after epoch 1" in str(e.value)
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1
    assert load_checkpoint(run_dir / "checkpoints" / "last.npz")[1]["metrics"]["epoch"] == 1

"""Datasets hold their pixels once, as read (MNIST: bytes), and make float inputs only for the
rows in use (nnctl.io.examples.Inputs): the same numbers as the whole float array, no float copy
of the training set while loading or while the fused engine builds its sparse rows, and
training's checkpoints byte-identical to training on the float array."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from conftest import checkpoints

from nnctl.core.preprocessing import apply_preprocessing
from nnctl.io import examples
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import Inputs, data_paths, load_training_data
from nnctl.io.idx import read_examples
from nnctl.tasks.train import train

SHAPE = (28, 28)


def traced_peak(action, *args):
    """action(*args) and the peak of the memory traced while it ran (numpy's arrays included)."""
    tracemalloc.start()
    try:
        result = action(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def mnist_pixels() -> np.ndarray:
    paths = data_paths(DataConfig())
    return read_examples(paths["train_images"], paths["train_labels"])[0][:12000]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inputs_are_the_float_arrays_numbers(mnist_pixels, dtype):
    record = examples.PREPROCESSING
    whole = apply_preprocessing(mnist_pixels, record, SHAPE, dtype)
    x = Inputs(mnist_pixels, record, SHAPE, dtype)
    assert x.pixels.dtype == np.uint8 and x.floats is None  # bytes kept, no floats
    assert (len(x), x.shape, x.dtype) == (len(whole), whole.shape, whole.dtype)
    picks = np.array([11999, 0, 17, 17, 1024])
    for rows, expected in ((slice(None), whole), (slice(100, 1300), whole[100:1300]),
                           (picks, whole[picks]), (7, whole[7]), (np.int64(8), whole[8])):
        got = x[rows]
        assert got.dtype == whole.dtype and np.array_equal(got, expected)
    assert np.array_equal(np.asarray(x), whole)


def test_deskewed_inputs_are_computed_once_as_before(mnist_pixels):
    record = {**examples.PREPROCESSING, "deskew": True}
    whole = apply_preprocessing(mnist_pixels, record, SHAPE, "float32")
    x = Inputs(mnist_pixels, record, SHAPE, "float32")
    assert x.pixels is None and np.array_equal(x[:], whole)
    assert np.array_equal(x[np.array([5, 2])], whole[[5, 2]])


def test_the_training_split_is_held_as_bytes_without_a_float_copy():
    # all 60,000 bundled images are read (47 MB of bytes); as float32 they would be 188 MB
    data = DataConfig(validation=5000)
    splits, peak = traced_peak(load_training_data, data, "float32")
    train, validation = splits.train.x, splits.validation.x
    assert train.pixels.dtype == validation.pixels.dtype == np.uint8
    assert train.floats is None and validation.floats is None
    assert len(train) == 55_000 and len(validation) == 5_000
    pixels = 60_000 * 28 * 28  # the file's bytes, plus a block of the reading (16 MiB)
    assert peak < pixels + 20 * 2**20, f"{peak / 2**20:.0f} MiB traced for 45 MiB of pixels"


def test_a_limit_does_not_keep_the_whole_file():
    splits = load_training_data(DataConfig(limit=1000, validation=100), "float32")
    assert splits.train.x.pixels.base is None or splits.train.x.pixels.base.nbytes < 10**6


def test_fused_sparse_rows_from_pixels_need_no_dense_float_copy(mnist_pixels):
    from nnctl.engine.fused import SPARSE_BLOCK, to_sparse_rows

    x = Inputs(mnist_pixels, examples.PREPROCESSING, SHAPE, "float32")
    want_indptr, want_cols, want_vals, no_table = to_sparse_rows(x[:])  # from the float array
    (indptr, cols, vals, table), peak = traced_peak(to_sparse_rows, x)
    assert no_table is None and want_vals.dtype == np.float32
    # the pixel bytes as values, read through the table: the float rows' very numbers
    assert vals.dtype == np.uint8 and cols.dtype == want_cols.dtype == np.uint16
    assert table.dtype == np.float32 and np.array_equal(table[vals], want_vals)
    assert np.array_equal(indptr, want_indptr) and np.array_equal(cols, want_cols)
    flat = mnist_pixels.reshape(len(x), -1)
    assert np.array_equal(vals, flat[flat != 0])
    built = indptr.nbytes + cols.nbytes + vals.nbytes + table.nbytes
    assert cols.nbytes + vals.nbytes == 3 * len(vals)  # 3 bytes per non-zero pixel, not 8
    block = SPARSE_BLOCK * x.shape[1] * (1 + 8)  # a block's pixels and their counts
    assert len(x) > 2 * SPARSE_BLOCK  # several blocks, the last one short
    assert peak < built + block + 2**20 < built + x[:].nbytes  # not the whole float array


def test_deskewed_inputs_give_float_sparse_rows(mnist_pixels):
    from nnctl.engine.fused import to_sparse_rows

    x = Inputs(mnist_pixels[:300], {**examples.PREPROCESSING, "deskew": True}, SHAPE, "float32")
    assert x.as_pixels() is None  # an input is not a function of its own pixel alone
    indptr, cols, vals, table = to_sparse_rows(x)
    assert table is None and vals.dtype == np.float32
    dense = np.zeros(x.shape, np.float32)
    rows = np.repeat(np.arange(len(x)), np.diff(indptr))
    dense[rows, cols] = vals
    assert np.array_equal(dense, x[:])


QUICK_RUN = {"model": {"hidden": [12]}, "training": {"epochs": 1},
             "data": {"limit": 700, "validation": 200}}


@pytest.mark.parametrize("training", [
    {"engine": "fused"},
    {"engine": "reference", "dropout": {"input": 0.2, "hidden": 0.5}},
    {"engine": "fused", "dropout": {"input": 0.2}},
])
def test_training_on_pixels_writes_the_float_paths_checkpoints(tmp_path, monkeypatch, training):
    config = {**QUICK_RUN, "training": {**QUICK_RUN["training"], **training}}
    train(config_from_dict(config, "test"), tmp_path / "pixels")
    monkeypatch.setattr(examples, "Inputs", apply_preprocessing)  # the float array, as before
    assert isinstance(load_training_data(DataConfig(limit=10), "float32").train.x, np.ndarray)
    train(config_from_dict(config, "test"), tmp_path / "floats")
    assert checkpoints(tmp_path / "pixels") == checkpoints(tmp_path / "floats")
    assert checkpoints(tmp_path / "pixels")


def test_take_keeps_the_rows_pixels_and_makes_the_same_numbers(mnist_pixels):
    x = Inputs(mnist_pixels, examples.PREPROCESSING, SHAPE, "float32")
    rows = np.array([9, 3, 3, 11000])
    taken = x.take(rows)
    assert isinstance(taken, Inputs) and taken.floats is None
    assert np.array_equal(taken.pixels, mnist_pixels.reshape(len(x), -1)[rows])
    assert np.array_equal(taken[:], x[rows]) and taken.as_pixels()[0] is taken.pixels
    deskewed = Inputs(mnist_pixels[:50], {**examples.PREPROCESSING, "deskew": True}, SHAPE,
                      "float32")
    assert np.array_equal(deskewed.take(np.array([4, 1])), deskewed[:][[4, 1]])

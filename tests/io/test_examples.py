"""Datasets and splits (nnctl.io.examples): the training and validation splits, the inputs made
from pixels and the preprocessing record a checkpoint keeps, where the files are (data.dir, files
given one by one, the bundled MNIST).

IDX files are written here by hand (idxfiles), never with nnctl code.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from idxfiles import small_images, write_dataset, write_idx

from nnctl.core.preprocessing import deskew
from nnctl.errors import CheckpointError, DataError
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import (
    BUNDLED_DIR,
    PREPROCESSING,
    STANDARD_NAMES,
    data_paths,
    load_split,
    load_training_data,
    preprocessing,
    recorded_preprocessing,
)
from nnctl.io.idx import read_examples, read_idx

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO / "data" / "mnist"
SHAPE = (28, 28)


# --------------------------------------------------------------------------- load_training_data


def expected_x(images: np.ndarray, dtype: str) -> np.ndarray:
    flat = images.reshape(len(images), -1).astype(dtype)
    return flat / np.asarray(255.0, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_load_training_data_limit_and_validation(tmp_path, dtype, gz):
    images = small_images(20)
    labels = (np.arange(20) % 7).astype(np.uint8)  # limit 12 -> classes 0..6
    directory = write_dataset(tmp_path / "mnist", images, labels, gz=gz)
    splits = load_training_data(DataConfig(dir=str(directory), limit=12, validation=4), dtype)

    assert len(splits.train) == 8 and len(splits.validation) == 4
    assert splits.classes == 7
    assert splits.train.image_shape == (8, 6) and splits.validation.image_shape == (8, 6)
    assert splits.train.x.shape == (8, 48) and splits.validation.x.shape == (4, 48)
    assert splits.train.x.dtype == np.dtype(dtype) and splits.validation.x.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(splits.train.x[:], expected_x(images[:8], dtype))
    np.testing.assert_array_equal(splits.validation.x[:], expected_x(images[8:12], dtype))
    np.testing.assert_array_equal(splits.train.labels, labels[:8])
    np.testing.assert_array_equal(splits.validation.labels, labels[8:12])
    train = splits.train.x[:]
    assert train.min() == 0.0 and train.max() == 1.0  # pixels 0 and 255 present
    assert 0.0 <= splits.validation.x[:].min() and splits.validation.x[:].max() <= 1.0


def test_load_training_data_without_limit_holds_out_the_last(tmp_path):
    images = small_images(20)
    labels = (np.arange(20) % 10).astype(np.uint8)
    directory = write_dataset(tmp_path / "mnist", images, labels)
    splits = load_training_data(DataConfig(dir=str(directory), validation=5), "float64")
    np.testing.assert_array_equal(splits.train.labels, labels[:15])
    np.testing.assert_array_equal(splits.validation.labels, labels[15:])
    np.testing.assert_array_equal(splits.validation.x[:], images[15:].reshape(5, -1) / 255.0)
    assert splits.classes == 10


def test_load_training_data_validation_zero_gives_none(tmp_path):
    images = small_images(10)
    labels = (np.arange(10) % 3).astype(np.uint8)
    directory = write_dataset(tmp_path / "mnist", images, labels)
    splits = load_training_data(DataConfig(dir=str(directory), limit=6, validation=0), "float32")
    assert splits.validation is None
    assert len(splits.train) == 6
    np.testing.assert_array_equal(splits.train.labels, labels[:6])
    np.testing.assert_array_equal(splits.train.x[:], expected_x(images[:6], "float32"))


@pytest.mark.parametrize("limit, validation", [(None, 10), (None, 11), (6, 6), (6, 7)])
def test_load_training_data_validation_too_large(tmp_path, limit, validation):
    directory = write_dataset(tmp_path / "mnist", small_images(10),
                              (np.arange(10) % 3).astype(np.uint8))
    with pytest.raises(DataError) as e:
        load_training_data(DataConfig(dir=str(directory), limit=limit, validation=validation),
                           "float32")
    assert str(validation) in str(e.value).replace(str(directory), "")


def test_load_training_data_missing_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_training_data(DataConfig(dir=str(tmp_path / "empty"), validation=0), "float32")
    assert STANDARD_NAMES["train_images"] in str(e.value)


def test_preprocess_matches_pixel_over_255_for_every_value(tmp_path):
    images = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    directory = write_dataset(tmp_path / "mnist", images, np.array([0, 1, 0, 1], np.uint8))
    for dtype in ("float32", "float64"):
        x = load_training_data(DataConfig(dir=str(directory), validation=0), dtype).train.x[:]
        assert x.dtype == np.dtype(dtype)
        np.testing.assert_allclose(x.reshape(-1), np.arange(256) / 255.0,
                                   rtol=1e-7 if dtype == "float32" else 0)
        assert x.reshape(-1)[0] == 0.0 and x.reshape(-1)[-1] == 1.0


# --------------------------------------------------------------------------- preprocessing record


def test_preprocessing_records_deskew_only_when_asked():
    assert preprocessing(DataConfig()) == PREPROCESSING
    assert "deskew" not in preprocessing(DataConfig())
    assert preprocessing(DataConfig(deskew=True)) == {"name": "scale", "divide_by": 255.0,
                                                      "deskew": True}
    assert config_from_dict({"data": {"deskew": True}}, "test").data.deskew is True
    assert config_from_dict({}, "test").data.deskew is False


@pytest.mark.slow
def test_training_validation_and_test_splits_are_deskewed_alike():
    config = DataConfig(limit=600, validation=100, deskew=True)
    paths = data_paths(config)
    images, _ = read_examples(paths["train_images"], paths["train_labels"])
    scaled = images[:600].reshape(600, -1).astype(np.float32) / np.float32(255)
    splits = load_training_data(config, "float32")
    np.testing.assert_array_equal(splits.train.x[:], deskew(scaled[:500], SHAPE))
    np.testing.assert_array_equal(splits.validation.x[:], deskew(scaled[500:], SHAPE))
    test = load_split(config, "test", "float32")
    test_images, _ = read_examples(paths["test_images"], paths["test_labels"])
    expected = deskew(test_images.reshape(len(test_images), -1).astype(np.float32) / 255, SHAPE)
    np.testing.assert_array_equal(test.x[:], expected)
    plain = load_split(config, "validation", "float32", PREPROCESSING)  # the record wins
    np.testing.assert_array_equal(plain.x[:], scaled[500:])


@pytest.mark.parametrize("record", [None, "scale", {"name": "standardize", "divide_by": 255.0},
                                    {"name": "scale", "divide_by": 0},
                                    {"name": "scale", "divide_by": True},
                                    {"name": "scale", "divide_by": 255.0, "deskew": "yes"}])
def test_an_unknown_record_is_refused(record):
    with pytest.raises(CheckpointError, match="unknown input preprocessing"):
        recorded_preprocessing({"preprocessing": record}, "ckpt.npz")


# --------------------------------------------------------------------------- data_paths


def test_data_paths_standard_gz_names(tmp_path):
    directory = write_dataset(tmp_path / "d", small_images(4), np.arange(4, dtype=np.uint8))
    paths = data_paths(DataConfig(dir=str(directory)))
    assert set(paths) == set(STANDARD_NAMES)
    for key, stem in STANDARD_NAMES.items():
        assert paths[key] == directory / (stem + ".gz")


def test_data_paths_finds_raw_names(tmp_path):
    directory = write_dataset(tmp_path / "d", small_images(4), np.arange(4, dtype=np.uint8),
                              gz=False)
    paths = data_paths(DataConfig(dir=str(directory)))
    for key, stem in STANDARD_NAMES.items():
        assert paths[key] == directory / stem
        assert paths[key].exists()


def test_explicit_paths_override_dir(tmp_path):
    images, labels = small_images(10, shape=(5, 3)), (np.arange(10) % 2).astype(np.uint8)
    directory = write_dataset(tmp_path / "d", small_images(4), np.arange(4, dtype=np.uint8))
    own_images = write_idx(tmp_path / "my-images.bin", images, gz=True)
    own_labels = write_idx(tmp_path / "my-labels.bin", labels)
    config = DataConfig(dir=str(directory), train_images=str(own_images),
                        train_labels=str(own_labels), validation=2)
    paths = data_paths(config)
    assert paths["train_images"] == own_images and paths["train_labels"] == own_labels
    assert paths["test_images"] == directory / (STANDARD_NAMES["test_images"] + ".gz")
    splits = load_training_data(config, "float32")
    assert len(splits.train) == 8 and splits.train.image_shape == (5, 3)
    np.testing.assert_array_equal(splits.validation.labels, labels[8:])


def test_data_paths_default_is_bundled_mnist():
    paths = data_paths(DataConfig())
    assert BUNDLED_DIR.resolve() == MNIST_DIR.resolve()
    for key, stem in STANDARD_NAMES.items():
        assert paths[key].parent.resolve() == MNIST_DIR.resolve()
        assert paths[key].name.startswith(stem)
        assert paths[key].exists()


# --------------------------------------------------------------------------- the bundled MNIST


def _sums(path: Path) -> dict[str, str]:
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest.lower()
    return sums


def test_bundled_mnist_checksums():
    sums = _sums(MNIST_DIR / "SHA256SUMS")
    assert set(sums) == {stem + ".gz" for stem in STANDARD_NAMES.values()}
    for name, digest in sums.items():
        assert hashlib.sha256((MNIST_DIR / name).read_bytes()).hexdigest() == digest, name
    raw_sums = MNIST_DIR / "SHA256SUMS.raw"
    if raw_sums.exists():
        for name, digest in _sums(raw_sums).items():
            data = gzip.decompress((MNIST_DIR / (name + ".gz")).read_bytes())
            assert hashlib.sha256(data).hexdigest() == digest, name


@pytest.mark.parametrize("split, count", [("train", 60000), ("t10k", 10000)])
def test_bundled_mnist_reads(split, count):
    images = read_idx(MNIST_DIR / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_DIR / f"{split}-labels-idx1-ubyte.gz")
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) == set(range(10))
    assert images.max() == 255 and images.min() == 0

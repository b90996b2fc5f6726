"""IDX reading, datasets and splits (nnctl.io.data).

IDX files are written here by hand (header + big-endian payload with struct / numpy), never with
nnctl code, so a reader bug cannot cancel out against a writer bug.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from nnctl.errors import DataError
from nnctl.io.config import DataConfig
from nnctl.io.data import (
    BUNDLED_DIR,
    IDX_TYPES,
    STANDARD_NAMES,
    data_paths,
    load_training_data,
    read_examples,
    read_idx,
)

REPO = Path(__file__).resolve().parents[2]
MNIST_DIR = REPO / "data" / "mnist"

# Facts of the IDX format (LeCun's description): type code -> big-endian element type.
IDX_FORMAT = {
    0x08: ">u1",  # unsigned byte
    0x09: ">i1",  # signed byte
    0x0B: ">i2",  # short
    0x0C: ">i4",  # int
    0x0D: ">f4",  # float
    0x0E: ">f8",  # double
}
CODE_OF_KIND = {np.dtype(v).newbyteorder("="): k for k, v in IDX_FORMAT.items()}


# --------------------------------------------------------------------------- helpers


def idx_header(code: int, dims) -> bytes:
    dims = tuple(dims)
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array, code: int | None = None) -> bytes:
    """A complete IDX file for `array`: magic, type code, ndim, big-endian sizes, big-endian
    data."""
    array = np.asarray(array)
    if code is None:
        code = CODE_OF_KIND[array.dtype.newbyteorder("=")]
    return idx_header(code, array.shape) + array.astype(IDX_FORMAT[code]).tobytes()


def write_file(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_idx(path: Path, array, code: int | None = None, gz: bool = False) -> Path:
    return write_file(path, idx_bytes(array, code), gz)


def sample_values(code: int, shape, seed: int = 0) -> np.ndarray:
    """Values spanning the type's range (negative ones for signed types), in native byte order."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(IDX_FORMAT[code]).newbyteorder("=")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        flat = values.reshape(-1)
        if flat.size >= 2:  # the extremes, which exercise every byte
            flat[0], flat[-1] = info.min, info.max
        return values
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


def message(excinfo) -> str:
    return str(excinfo.value)


def write_dataset(directory: Path, images, labels, *, gz: bool = True, test: bool = True) -> Path:
    """The four standard MNIST file names in `directory` (test split = the same data)."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(directory / (STANDARD_NAMES["train_images"] + suffix), images, gz=gz)
    write_idx(directory / (STANDARD_NAMES["train_labels"] + suffix), labels, gz=gz)
    if test:
        write_idx(directory / (STANDARD_NAMES["test_images"] + suffix), images, gz=gz)
        write_idx(directory / (STANDARD_NAMES["test_labels"] + suffix), labels, gz=gz)
    return directory


def small_images(n: int = 20, shape=(8, 6), seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    images[0].flat[0], images[0].flat[1] = 0, 255  # the ends of the pixel range
    return images


# --------------------------------------------------------------------------- read_idx: round trips


def test_idx_types_are_the_format_codes():
    assert set(IDX_TYPES) == set(IDX_FORMAT)
    for code, dtype in IDX_TYPES.items():
        expected = np.dtype(IDX_FORMAT[code])
        assert (dtype.kind, dtype.itemsize) == (expected.kind, expected.itemsize)


SHAPES = [(3, 28, 28), (5, 7, 9), (4, 3), (11,)]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("code", sorted(IDX_FORMAT), ids=lambda c: f"0x{c:02x}")
def test_read_idx_round_trip(tmp_path, code, shape, gz):
    values = sample_values(code, shape, seed=code)
    path = write_idx(tmp_path / "data.idx", values, code, gz=gz)
    out = read_idx(path)
    expected_dtype = np.dtype(IDX_FORMAT[code]).newbyteorder("=")
    assert out.shape == shape
    assert out.dtype == expected_dtype
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, values)


def test_read_idx_decodes_big_endian_by_hand(tmp_path):
    # int16: 0x0102 = 258, 0xfffe = -2, 0x8000 = -32768
    data = b"\x00\x00\x0b\x01" + b"\x00\x00\x00\x03" + b"\x01\x02\xff\xfe\x80\x00"
    out = read_idx(write_file(tmp_path / "a", data))
    assert out.tolist() == [258, -2, -32768]
    # float32 big-endian 0x3f800000 = 1.0, 0xc0200000 = -2.5; 1x2 matrix
    data = (b"\x00\x00\x0d\x02" + b"\x00\x00\x00\x01\x00\x00\x00\x02"
            + b"\x3f\x80\x00\x00\xc0\x20\x00\x00")
    out = read_idx(write_file(tmp_path / "b", data))
    assert out.shape == (1, 2) and out.tolist() == [[1.0, -2.5]]
    # int32 0x00010000 = 65536
    data = b"\x00\x00\x0c\x01\x00\x00\x00\x01\x00\x01\x00\x00"
    assert read_idx(write_file(tmp_path / "c", data)).tolist() == [65536]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    values = sample_values(0x08, (4, 5, 6))
    gz_without_suffix = write_idx(tmp_path / "images-idx3-ubyte", values, gz=True)
    assert gz_without_suffix.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(gz_without_suffix), values)
    raw_with_gz_suffix = write_idx(tmp_path / "images.gz", values, gz=False)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), values)


def test_read_idx_accepts_str_paths(tmp_path):
    values = sample_values(0x08, (2, 3))
    path = write_idx(tmp_path / "x.idx", values)
    np.testing.assert_array_equal(read_idx(str(path)), values)


def test_zero_length_dimension_gives_empty_array(tmp_path):
    path = write_file(tmp_path / "e", idx_header(0x08, (0, 8, 6)))
    out = read_idx(path)
    assert out.shape == (0, 8, 6)


# --------------------------------------------------------------------------- read_idx: malformed


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("head", [b"\x01\x00\x08\x01", b"\x00\x01\x08\x01", b"\x89PNG"])
def test_wrong_magic(tmp_path, head, gz):
    path = write_file(tmp_path / "bad", head + b"\x00\x00\x00\x02\x01\x02", gz)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "magic" in message(e)


@pytest.mark.parametrize("code", [0x00, 0x07, 0x0A, 0x0F, 0xFF])
def test_unknown_type_code(tmp_path, code):
    path = write_file(tmp_path / "bad", idx_header(code, (2,)) + b"\x00" * 16)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "type code" in message(e)
    assert f"{code:02x}" in message(e).lower()


def test_zero_dimensions(tmp_path):
    path = write_file(tmp_path / "bad", b"\x00\x00\x08\x00" + b"\x01\x02")
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "dimension" in message(e)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("keep", [0, 1, 4, 7, 11])
def test_truncated_header(tmp_path, keep, gz):
    """The header of a 3-D file is 4 + 3 * 4 = 16 bytes; cut inside it."""
    full = idx_header(0x08, (2, 3, 4))
    path = write_file(tmp_path / "bad", full[:4] + full[4:][:keep], gz)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "truncated" in message(e)


def test_header_shorter_than_magic(tmp_path):
    path = write_file(tmp_path / "bad", b"\x00\x00\x08")
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("missing", [1, 7, 4 * 5 * 6 * 2])
def test_truncated_payload(tmp_path, missing, gz):
    values = sample_values(0x0B, (4, 5, 6))  # int16: 240 bytes of data
    data = idx_bytes(values)
    path = write_file(tmp_path / "bad", data[:-missing], gz)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "truncated" in message(e)
    assert "240" in message(e).replace(str(path), "")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 100])
def test_extra_trailing_bytes(tmp_path, extra, gz):
    data = idx_bytes(sample_values(0x08, (3, 4)))
    path = write_file(tmp_path / "bad", data + extra, gz)
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "more" in message(e)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    "code, dims",
    [
        (0x08, (2**31, 2**31)),
        (0x0E, (2**31, 2**31)),
        (0x08, (2**32 - 1, 2**32 - 1, 2**32 - 1)),
        (0x0E, (2**32 - 1,) * 8),
        (0x08, (2**16, 2**16)),  # 4 GiB
        (0x08, (2**20, 2**19)),  # 512 GiB
    ],
    ids=["2^31x2^31-u1", "2^31x2^31-f8", "3x(2^32-1)", "8x(2^32-1)", "4GiB", "512GiB"],
)
def test_huge_header_dims_fail_cleanly_without_allocating(tmp_path, code, dims, gz):
    path = write_file(tmp_path / "huge", idx_header(code, dims) + b"\x01\x02\x03\x04", gz)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as e:
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in message(e)
    assert "truncated" in message(e)
    assert peak < 64 * 2**20, (f"read_idx allocated {peak} bytes for a "
                               f"{path.stat().st_size}-byte file")


def test_empty_file(tmp_path):
    path = write_file(tmp_path / "empty", b"")
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "empty" in message(e)


def test_missing_file(tmp_path):
    path = tmp_path / "nope-idx3-ubyte.gz"
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "no such file" in message(e)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(DataError) as e:
        read_idx(tmp_path)
    assert str(tmp_path) in message(e)
    assert "directory" in message(e)


def _gzip_garbage(data: bytes) -> bytes:
    return b"\x1f\x8b" + b"\x00garbage that is not deflate data" * 3


def _gzip_truncated(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)[:-30]


def _gzip_bad_crc(data: bytes) -> bytes:
    blob = bytearray(gzip.compress(data, mtime=0))
    blob[-8] ^= 0xFF  # the CRC-32 of the trailer
    return bytes(blob)


def _gzip_bad_deflate(data: bytes) -> bytes:
    blob = bytearray(gzip.compress(data, mtime=0))
    blob[10] = 0xFF  # the first deflate block header: reserved block type 3
    return bytes(blob)


@pytest.mark.parametrize("corrupt",
                         [_gzip_garbage, _gzip_truncated, _gzip_bad_crc, _gzip_bad_deflate])
def test_corrupt_gzip(tmp_path, corrupt):
    data = idx_bytes(sample_values(0x08, (10, 8, 6)))
    path = write_file(tmp_path / "images.gz", corrupt(data))
    with pytest.raises(DataError) as e:
        read_idx(path)
    assert str(path) in message(e)
    assert "gzip" in message(e)


# --------------------------------------------------------------------------- read_examples


def test_read_examples_returns_images_and_int64_labels(tmp_path):
    images = small_images(6)
    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    img, lab = read_examples(write_idx(tmp_path / "i", images), write_idx(tmp_path / "l", labels))
    np.testing.assert_array_equal(img, images)
    assert img.dtype == np.uint8 and img.shape == (6, 8, 6)
    assert lab.dtype == np.int64
    np.testing.assert_array_equal(lab, labels)


@pytest.mark.parametrize("n_images, n_labels", [(13, 17), (17, 13)])
def test_read_examples_count_mismatch(tmp_path, n_images, n_labels):
    images_path = write_idx(tmp_path / "i", small_images(n_images))
    labels_path = write_idx(tmp_path / "l", np.zeros(n_labels, np.uint8))
    with pytest.raises(DataError) as e:
        read_examples(images_path, labels_path)
    text = message(e).replace(str(images_path), "").replace(str(labels_path), "")
    assert str(labels_path) in message(e) or str(images_path) in message(e)
    assert str(n_images) in text and str(n_labels) in text


@pytest.mark.parametrize("code", [0x09, 0x0B, 0x0C])
def test_read_examples_negative_labels(tmp_path, code):
    images_path = write_idx(tmp_path / "i", small_images(3))
    labels_path = write_idx(tmp_path / "l", np.array([0, -1, 2]), code)
    with pytest.raises(DataError) as e:
        read_examples(images_path, labels_path)
    assert str(labels_path) in message(e)
    assert "negative" in message(e)


@pytest.mark.parametrize("code", [0x0D, 0x0E])
def test_read_examples_non_integer_labels(tmp_path, code):
    images_path = write_idx(tmp_path / "i", small_images(3))
    labels_path = write_idx(tmp_path / "l", np.array([0.0, 1.0, 2.0]), code)
    with pytest.raises(DataError) as e:
        read_examples(images_path, labels_path)
    assert str(labels_path) in message(e)
    assert "integer" in message(e)


def test_read_examples_empty_dataset(tmp_path):
    images_path = write_file(tmp_path / "i", idx_header(0x08, (0, 8, 6)))
    labels_path = write_file(tmp_path / "l", idx_header(0x08, (0,)))
    with pytest.raises(DataError) as e:
        read_examples(images_path, labels_path)
    assert str(images_path) in message(e)
    assert "empty" in message(e)


def test_read_examples_images_must_have_two_or_more_dims(tmp_path):
    images_path = write_idx(tmp_path / "i", np.arange(5, dtype=np.uint8))
    labels_path = write_idx(tmp_path / "l", np.arange(5, dtype=np.uint8))
    with pytest.raises(DataError) as e:
        read_examples(images_path, labels_path)
    assert str(images_path) in message(e)


def test_read_examples_labels_must_be_one_dimensional(tmp_path):
    images_path = write_idx(tmp_path / "i", small_images(4))
    labels_path = write_idx(tmp_path / "l", np.zeros((4, 1), np.uint8))
    with pytest.raises(DataError) as e:
        read_examples(images_path, labels_path)
    assert str(labels_path) in message(e)


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
    np.testing.assert_array_equal(splits.train.x, expected_x(images[:8], dtype))
    np.testing.assert_array_equal(splits.validation.x, expected_x(images[8:12], dtype))
    np.testing.assert_array_equal(splits.train.labels, labels[:8])
    np.testing.assert_array_equal(splits.validation.labels, labels[8:12])
    assert splits.train.x.min() == 0.0 and splits.train.x.max() == 1.0  # pixels 0 and 255 present
    assert 0.0 <= splits.validation.x.min() and splits.validation.x.max() <= 1.0


def test_load_training_data_without_limit_holds_out_the_last(tmp_path):
    images = small_images(20)
    labels = (np.arange(20) % 10).astype(np.uint8)
    directory = write_dataset(tmp_path / "mnist", images, labels)
    splits = load_training_data(DataConfig(dir=str(directory), validation=5), "float64")
    np.testing.assert_array_equal(splits.train.labels, labels[:15])
    np.testing.assert_array_equal(splits.validation.labels, labels[15:])
    np.testing.assert_array_equal(splits.validation.x, images[15:].reshape(5, -1) / 255.0)
    assert splits.classes == 10


def test_load_training_data_validation_zero_gives_none(tmp_path):
    images = small_images(10)
    labels = (np.arange(10) % 3).astype(np.uint8)
    directory = write_dataset(tmp_path / "mnist", images, labels)
    splits = load_training_data(DataConfig(dir=str(directory), limit=6, validation=0), "float32")
    assert splits.validation is None
    assert len(splits.train) == 6
    np.testing.assert_array_equal(splits.train.labels, labels[:6])
    np.testing.assert_array_equal(splits.train.x, expected_x(images[:6], "float32"))


@pytest.mark.parametrize("limit, validation", [(None, 10), (None, 11), (6, 6), (6, 7)])
def test_load_training_data_validation_too_large(tmp_path, limit, validation):
    directory = write_dataset(tmp_path / "mnist", small_images(10),
                              (np.arange(10) % 3).astype(np.uint8))
    with pytest.raises(DataError) as e:
        load_training_data(DataConfig(dir=str(directory), limit=limit, validation=validation),
                           "float32")
    assert str(validation) in message(e).replace(str(directory), "")


def test_load_training_data_missing_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_training_data(DataConfig(dir=str(tmp_path / "empty"), validation=0), "float32")
    assert STANDARD_NAMES["train_images"] in message(e)


def test_preprocess_matches_pixel_over_255_for_every_value(tmp_path):
    images = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    directory = write_dataset(tmp_path / "mnist", images, np.array([0, 1, 0, 1], np.uint8))
    for dtype in ("float32", "float64"):
        x = load_training_data(DataConfig(dir=str(directory), validation=0), dtype).train.x
        assert x.dtype == np.dtype(dtype)
        np.testing.assert_allclose(x.reshape(-1), np.arange(256) / 255.0,
                                   rtol=1e-7 if dtype == "float32" else 0)
        assert x.reshape(-1)[0] == 0.0 and x.reshape(-1)[-1] == 1.0


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

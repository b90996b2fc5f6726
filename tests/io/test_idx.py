"""IDX reading (nnctl.io.idx): round trips of every type, malformed and hostile files, a pair of
images and labels files and their checks.

IDX files are written here by hand (idxfiles: header + big-endian payload with struct / numpy),
never with nnctl code, so a reader bug cannot cancel out against a writer bug.
"""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest
from idxfiles import (
    IDX_FORMAT,
    idx_bytes,
    idx_header,
    sample_values,
    small_images,
    write_file,
    write_idx,
)

from nnctl.errors import DataError
from nnctl.io.idx import IDX_TYPES, read_examples, read_idx


def message(excinfo) -> str:
    return str(excinfo.value)


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

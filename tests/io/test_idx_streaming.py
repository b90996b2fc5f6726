"""The two ways of reading an IDX file without holding it all as read: mapped (`read_idx(path,
mapped=True)`, uncompressed files) and a block at a time (`idx_blocks`). Each gives the values
`read_idx` gives and refuses what it refuses, with the same messages."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from idxfiles import IDX_FORMAT, idx_bytes, idx_header, sample_values, write_file, write_idx

from nnctl.errors import DataError
from nnctl.io import idx
from nnctl.io.idx import idx_blocks, read_idx


def read_mapped(path):
    return read_idx(path, mapped=True)


def read_blocks(path):
    with idx_blocks(path) as read:
        blocks = list(read.blocks)
        assert all(block.dtype == read.dtype and block.dtype.isnative for block in blocks)
        return np.concatenate(blocks).reshape(read.shape) if blocks else np.zeros(read.shape,
                                                                                 read.dtype)


READERS = {"mapped": read_mapped, "blocks": read_blocks}


@pytest.fixture(params=[1 << 24, 7], ids=["one-block", "7-byte-blocks"])
def block_bytes(request, monkeypatch):
    """Blocks of BLOCK_BYTES as shipped, and of 7 bytes (one item per block, and many)."""
    monkeypatch.setattr(idx, "BLOCK_BYTES", request.param)
    return request.param


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("shape", [(3, 28, 28), (5, 7, 9), (11,)], ids=str)
@pytest.mark.parametrize("code", sorted(IDX_FORMAT), ids=lambda c: f"0x{c:02x}")
@pytest.mark.parametrize("reader", READERS)
def test_same_values_as_read_idx(tmp_path, block_bytes, reader, code, shape, gz):
    values = sample_values(code, shape, seed=code)
    path = write_idx(tmp_path / "data.idx", values, code, gz=gz)
    out = READERS[reader](path)
    assert out.shape == shape
    np.testing.assert_array_equal(out, read_idx(path))


def test_mapped_is_a_read_only_map_of_an_uncompressed_file_only(tmp_path):
    values = sample_values(0x08, (4, 3, 2))
    raw = write_idx(tmp_path / "raw", values)
    gz = write_idx(tmp_path / "gz", values, gz=True)
    mapped = read_mapped(raw)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    with pytest.raises(ValueError):
        mapped[0, 0, 0] = 1
    assert not isinstance(read_mapped(gz), np.memmap)  # gzipped: read as always


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("missing", [1, 7, 240])
@pytest.mark.parametrize("reader", READERS)
def test_truncated_payload_as_read_idx_says(tmp_path, block_bytes, reader, missing, gz):
    path = write_file(tmp_path / "bad", idx_bytes(sample_values(0x0B, (4, 5, 6)))[:-missing], gz)
    with pytest.raises(DataError) as expected:
        read_idx(path)
    with pytest.raises(DataError) as got:
        READERS[reader](path)
    assert str(got.value) == str(expected.value)
    assert "truncated" in str(got.value)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("reader", READERS)
def test_extra_bytes_as_read_idx_says(tmp_path, block_bytes, reader, gz):
    path = write_file(tmp_path / "bad", idx_bytes(sample_values(0x08, (3, 4))) + b"\x00", gz)
    with pytest.raises(DataError) as got:
        READERS[reader](path)
    assert str(got.value) == f"{path}: 12 bytes of data expected, the file has more"


@pytest.mark.parametrize("reader", READERS)
def test_non_finite_value_named_by_its_image(tmp_path, block_bytes, reader):
    values = np.zeros((6, 2, 2), dtype=">f4")
    values[4, 1, 0] = np.nan
    path = write_idx(tmp_path / "f.idx", values, 0x0D)
    with pytest.raises(DataError) as got:
        READERS[reader](path)
    assert "image 4 holds a non-finite pixel" in str(got.value)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("reader", READERS)
def test_huge_header_fails_without_allocating(tmp_path, reader, gz):
    path = write_file(tmp_path / "huge", idx_header(0x08, (2**20, 2**19)) + b"\x01" * 4, gz)
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as got:
            READERS[reader](path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "truncated" in str(got.value)
    assert peak < 2**20


def test_blocks_hold_a_block_not_the_file(tmp_path, monkeypatch):
    """A 4 MB file read in 64 KiB blocks: what is allocated stays near one block."""
    monkeypatch.setattr(idx, "BLOCK_BYTES", 1 << 16)
    values = np.random.default_rng(0).integers(0, 256, (4096, 32, 32), dtype=np.uint8)
    for gz in (False, True):
        path = write_idx(tmp_path / f"big-{gz}", values, gz=gz)
        tracemalloc.start()
        try:
            total = 0
            with idx_blocks(path) as read:
                for block in read.blocks:
                    total += int(block.sum(dtype=np.int64))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total == int(values.sum(dtype=np.int64))
        assert peak < values.nbytes / 8, (gz, peak)


def test_an_uncompressed_file_may_exceed_the_read_limit_when_mapped(tmp_path, monkeypatch):
    """MAX_PAYLOAD bounds what is read into memory; a mapped (or block-read) uncompressed file
    holds no more memory than its pages, and its own size bounds it. A gzipped one keeps it."""
    monkeypatch.setattr(idx, "MAX_PAYLOAD", 100)
    values = sample_values(0x08, (20, 3, 3))  # 180 bytes
    raw, gz = write_idx(tmp_path / "raw", values), write_idx(tmp_path / "gz", values, gz=True)
    with pytest.raises(DataError, match="more than the"):
        read_idx(raw)
    np.testing.assert_array_equal(read_mapped(raw), values)
    np.testing.assert_array_equal(read_blocks(raw), values)
    for reader in (read_mapped, read_blocks):
        with pytest.raises(DataError, match="more than the"):
            reader(gz)


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux's /proc only")
def test_a_mapped_file_is_advised_for_random_reads(tmp_path):
    """Training reads the rows in a shuffled order: the kernel is told (VmFlags `rr`), so that a
    page not in memory is read alone, not with its neighbours."""
    path = write_idx(tmp_path / "rows.idx", sample_values(0x08, (4096, 28, 28)))
    mapped = read_mapped(path)
    flags = None
    with open("/proc/self/smaps") as smaps:
        lines = smaps.read().splitlines()
    for k, line in enumerate(lines):
        if line.endswith(str(path)):
            flags = next(x for x in lines[k + 1:] if x.startswith("VmFlags:")).split()[1:]
            break
    assert flags is not None and "rr" in flags, flags
    np.testing.assert_array_equal(mapped, read_idx(path))

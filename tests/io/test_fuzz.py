"""Fuzzing the two readers of untrusted files: random bytes and mutations of valid files give
either a valid result or the project's own error, never anything else."""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnctl.core.network import init_network
from nnctl.errors import CheckpointError, DataError
from nnctl.io.checkpoint import checkpoint_bytes, load_checkpoint
from nnctl.io.idx import IDX_TYPES, read_idx

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCRATCH = Path(tempfile.mkdtemp(prefix="nnctl-fuzz-"))


def valid_idx(code: int, shape: tuple[int, ...], seed: int) -> bytes:
    dtype = IDX_TYPES[code]
    values = np.random.default_rng(seed).integers(0, 100, shape).astype(dtype)
    return (bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
            + values.tobytes())


def mutate(data: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    buffer = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(buffer) + 1)
        if kind == "flip" and buffer:
            buffer[at % len(buffer)] ^= 1 << (value % 8)
        elif kind == "set" and buffer:
            buffer[at % len(buffer)] = value % 256
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = bytes([value % 256]) * (1 + value % 7)
    return bytes(buffer)


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "set", "cut", "insert"]),
                           st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4)


def read_idx_or_error(data: bytes) -> None:
    path = SCRATCH / "fuzz.idx"
    path.write_bytes(data)
    try:
        array = read_idx(path)
    except DataError as e:
        assert str(e).startswith(str(path))
        return
    assert isinstance(array, np.ndarray) and array.ndim >= 1


@FUZZ
@given(st.binary(max_size=512))
def test_idx_reader_on_random_bytes(data):
    read_idx_or_error(data)


@FUZZ
@given(st.sampled_from(sorted(IDX_TYPES)), st.lists(st.integers(1, 5), min_size=1, max_size=3),
       st.integers(0, 100), st.booleans(), EDITS)
def test_idx_reader_on_mutated_files(code, shape, seed, gz, edits):
    data = valid_idx(code, tuple(shape), seed)
    read_idx_or_error(mutate(gzip.compress(data) if gz else data, edits))


@FUZZ
@given(st.sampled_from(sorted(IDX_TYPES)), st.lists(st.integers(1, 5), min_size=1, max_size=3),
       st.integers(0, 100))
def test_idx_reader_reads_every_valid_file(code, shape, seed):
    path = SCRATCH / "valid.idx.gz"
    path.write_bytes(gzip.compress(valid_idx(code, tuple(shape), seed)))
    assert read_idx(path).shape == tuple(shape)


NETWORK = init_network([12, 5, 3], "tanh", "softmax", "lecun", 1.0, np.random.default_rng(0))
VALID_CHECKPOINT = checkpoint_bytes(NETWORK, {"config": {}, "image_shape": [3, 4], "classes": 3,
                                              "epoch": 1})


def load_or_error(data: bytes) -> None:
    path = SCRATCH / "fuzz.npz"
    path.write_bytes(data)
    try:
        network, meta = load_checkpoint(path)
    except CheckpointError as e:
        assert str(e).startswith(str(path))
        return
    assert network.sizes[0] == np.prod(meta["image_shape"])


@FUZZ
@given(st.binary(max_size=512))
def test_checkpoint_loader_on_random_bytes(data):
    load_or_error(data)


@FUZZ
@given(EDITS)
def test_checkpoint_loader_on_mutated_files(edits):
    load_or_error(mutate(VALID_CHECKPOINT, edits))


def test_the_valid_checkpoint_loads():
    load_or_error(VALID_CHECKPOINT)
    path = SCRATCH / "fuzz.npz"
    assert load_checkpoint(path)[0].sizes == [12, 5, 3]


def rezip_with_mutated_entry(entry: int, edits) -> bytes:
    """Mutate one member's bytes (npy header, array data or metadata JSON), then zip it again with
    a correct CRC, so the loader's own checks, not the zip layer's, have to catch it."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(VALID_CHECKPOINT))
    names = source.namelist()
    target = names[entry % len(names)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in names:
            data = source.read(name)
            out.writestr(name, mutate(data, edits) if name == target else data)
    return buffer.getvalue()


@pytest.mark.slow
@FUZZ
@given(st.integers(0, 100), EDITS)
def test_checkpoint_loader_on_mutated_members(entry, edits):
    load_or_error(rezip_with_mutated_entry(entry, edits))

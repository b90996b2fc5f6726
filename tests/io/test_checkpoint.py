"""Checkpoints (nnctl.io.checkpoint): round trips, determinism, atomic writes, malformed files."""

from __future__ import annotations

import itertools
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nnctl.io.checkpoint as checkpoint_module
from nnctl.core.network import Network
from nnctl.errors import CheckpointError, RunDirError
from nnctl.io.atomic import atomic_write_text
from nnctl.io.checkpoint import (
    FORMAT_VERSION,
    checkpoint_bytes,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from nnctl.io.config import config_from_dict, config_to_dict
from nnctl.io.examples import PREPROCESSING

IMAGE_SHAPE = (4, 3)  # 12 inputs: deliberately not 28x28


# --------------------------------------------------------------------------- helpers


def make_network(sizes, dtype="float32", activation="sigmoid", output="softmax", seed=0) -> Network:
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal((n_out, n_in)).astype(dtype)
               for n_in, n_out in itertools.pairwise(sizes)]
    biases = [rng.standard_normal(n_out).astype(dtype) for n_out in sizes[1:]]
    return Network(weights, biases, activation, output)


def make_metadata(network: Network, image_shape=IMAGE_SHAPE, epoch=3) -> dict:
    """The metadata nnctl.tasks.train writes: config, preprocessing, image_shape, classes, epoch,
    metrics."""
    config = config_from_dict(
        {
            "model": {"hidden": network.sizes[1:-1], "activation": network.activation,
                      "output": network.output},
            "training": {
                "dtype": str(network.dtype),
                "epochs": 7,
                "loss": "squared_error" if network.output == "identity" else "cross_entropy",
            },
            "data": {"validation": 100, "limit": 1000},
        },
        "test",
    )
    return {
        "config": config_to_dict(config),
        "preprocessing": dict(PREPROCESSING),
        "image_shape": list(image_shape),
        "classes": network.sizes[-1],
        "epoch": epoch,
        "metrics": {
            "epoch": epoch,
            "train_loss": 0.25,
            "train_accuracy": 0.9,
            "train_mistakes": 90,
            "val_loss": 0.3,
            "val_accuracy": 0.875,
            "learning_rate": 0.1,
        },
    }


def assert_same_network(a: Network, b: Network) -> None:
    assert len(a.weights) == len(b.weights) and len(a.biases) == len(b.biases)
    for Wa, Wb, ba, bb in zip(a.weights, b.weights, a.biases, b.biases):
        assert Wa.dtype == Wb.dtype and ba.dtype == bb.dtype
        assert Wa.shape == Wb.shape and ba.shape == bb.shape
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    assert (a.activation, a.output) == (b.activation, b.output)


def valid_parts(sizes=(12, 8, 5, 10), dtype="float32"):
    """The arrays and full metadata (as stored) of a valid checkpoint, to be broken by a test."""
    network = make_network(list(sizes), dtype)
    arrays = {}
    for l, (W, b) in enumerate(zip(network.weights, network.biases), start=1):
        arrays[f"layers.{l}.weight"] = W
        arrays[f"layers.{l}.bias"] = b
    meta = dict(make_metadata(network), format_version=FORMAT_VERSION,
                activation=network.activation, output=network.output, sizes=network.sizes)
    return arrays, meta


def meta_array(meta) -> np.ndarray:
    raw = meta if isinstance(meta, bytes) else json.dumps(meta).encode("utf-8")
    return np.frombuffer(raw, np.uint8)


def write_npz(path: Path, arrays: dict, meta=None, **savez_kwargs) -> Path:
    """An .npz written with np.savez; `meta` (dict or raw bytes) becomes a hand-made uint8 array."""
    arrays = dict(arrays)
    if meta is not None:
        arrays["metadata"] = meta_array(meta)
    np.savez(path, **arrays, **savez_kwargs)
    return path


def error_message(path: Path) -> str:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    text = str(e.value)
    assert str(path) in text, text
    assert e.value.exit_code == 1
    return text


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "sizes, activation, output",
    [
        ([12, 10], "sigmoid", "softmax"),
        ([12, 7, 10], "tanh", "sigmoid"),
        ([12, 8, 5, 10], "relu", "identity"),
    ],
    ids=["1-layer", "2-layers", "3-layers"],
)
def test_save_load_round_trip(tmp_path, dtype, sizes, activation, output):
    network = make_network(sizes, dtype, activation, output, seed=len(sizes))
    metadata = make_metadata(network, epoch=len(sizes))
    path = tmp_path / "best.npz"
    save_checkpoint(path, network, metadata)

    loaded, meta = load_checkpoint(path)
    assert_same_network(loaded, network)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.sizes == sizes
    for key, value in metadata.items():
        assert meta[key] == value, key
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["sizes"] == sizes
    assert (meta["activation"], meta["output"]) == (activation, output)
    x = np.random.default_rng(5).random((3, 12)).astype(dtype)
    np.testing.assert_array_equal(loaded.forward(x), network.forward(x))


def test_saved_file_is_plain_arrays(tmp_path):
    network = make_network([12, 6, 10])
    path = tmp_path / "c.npz"
    save_checkpoint(path, network, make_metadata(network))
    with np.load(path, allow_pickle=False) as npz:
        assert set(npz.files) == {"layers.1.weight", "layers.1.bias", "layers.2.weight",
                                  "layers.2.bias", "metadata"}
        assert npz["layers.1.weight"].shape == (6, 12) and npz["layers.2.bias"].shape == (10,)
        raw = npz["metadata"]
        assert raw.dtype == np.uint8 and raw.ndim == 1
        assert json.loads(raw.tobytes().decode("utf-8"))["image_shape"] == list(IMAGE_SHAPE)
    with zipfile.ZipFile(path) as zf:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in zf.infolist())


def test_load_refuses_pickles(tmp_path, monkeypatch):
    network = make_network([12, 10])
    path = tmp_path / "c.npz"
    save_checkpoint(path, network, make_metadata(network))
    calls = []
    real_read = np.lib.format.read_array

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_read(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.np.lib.format, "read_array", spy)
    load_checkpoint(path)
    assert len(calls) == 3 and all(kwargs.get("allow_pickle") is False for kwargs in calls)


def test_crafted_valid_npz_loads(tmp_path):
    """The crafting helpers make a loadable file, so the error tests below break only what they
    mean to."""
    arrays, meta = valid_parts()
    network, loaded_meta = load_checkpoint(write_npz(tmp_path / "ok.npz", arrays, meta))
    assert network.sizes == [12, 8, 5, 10]
    assert loaded_meta == meta


# --------------------------------------------------------------------------- determinism


def test_checkpoint_bytes_is_deterministic(tmp_path):
    network = make_network([12, 7, 10])
    metadata = make_metadata(network)
    first = checkpoint_bytes(network, metadata)
    assert checkpoint_bytes(network, metadata) == first
    # an equal network and the same metadata in another key order give the same bytes
    assert checkpoint_bytes(network.copy(), dict(reversed(list(metadata.items())))) == first
    save_checkpoint(tmp_path / "a.npz", network, metadata)
    save_checkpoint(tmp_path / "b.npz", network, metadata)
    assert (tmp_path / "a.npz").read_bytes() == first == (tmp_path / "b.npz").read_bytes()
    # and it does depend on the content
    changed = network.copy()
    changed.weights[1][0, 0] += 1
    assert checkpoint_bytes(changed, metadata) != first
    assert checkpoint_bytes(network, dict(metadata, epoch=metadata["epoch"] + 1)) != first


# --------------------------------------------------------------------------- atomic writes


def test_save_leaves_no_temporary_files(tmp_path):
    network = make_network([12, 10])
    save_checkpoint(tmp_path / "last.npz", network, make_metadata(network))
    save_checkpoint(tmp_path / "last.npz", network, make_metadata(network, epoch=4))  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]
    assert load_checkpoint(tmp_path / "last.npz")[1]["epoch"] == 4


@pytest.mark.parametrize("exception", [OSError("disk on fire"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_write_keeps_old_file(tmp_path, monkeypatch, failing, exception):
    network = make_network([12, 10])
    path = tmp_path / "best.npz"
    save_checkpoint(path, network, make_metadata(network, epoch=1))
    old = path.read_bytes()

    def boom(*args, **kwargs):
        raise exception

    monkeypatch.setattr(os, failing, boom)
    # an OSError (disk full...) becomes the project's one-line error; Ctrl-C stays Ctrl-C
    expected = RunDirError if isinstance(exception, OSError) else type(exception)
    with pytest.raises(expected):
        save_checkpoint(path, make_network([12, 10], seed=9), make_metadata(network, epoch=2))
    monkeypatch.undo()

    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz"]
    assert load_checkpoint(path)[1]["epoch"] == 1


def test_unserialisable_metadata_keeps_old_file(tmp_path):
    network = make_network([12, 10])
    path = tmp_path / "best.npz"
    save_checkpoint(path, network, make_metadata(network))
    old = path.read_bytes()
    with pytest.raises(TypeError):
        save_checkpoint(path, network, dict(make_metadata(network), bad=object()))
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.npz"]


def test_atomic_write_text(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    atomic_write_text(path, "naïve ✓\n")
    assert path.read_bytes() == "naïve ✓\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


# --------------------------------------------------------------------------- malformed files


def test_missing_file(tmp_path):
    assert "no such" in error_message(tmp_path / "missing.npz")


def test_directory_is_not_a_checkpoint(tmp_path):
    (tmp_path / "d.npz").mkdir()
    error_message(tmp_path / "d.npz")


def _valid_bytes() -> bytes:
    network = make_network([12, 7, 10])
    return checkpoint_bytes(network, make_metadata(network))


@pytest.mark.parametrize("keep", [0, 1, 10, 100, 0.5, -22, -1], ids=lambda k: f"keep{k}")
def test_truncated_file(tmp_path, keep):
    data = _valid_bytes()
    cut = (int(len(data) * keep) if isinstance(keep, float)
           else keep % len(data) if keep < 0 else keep)
    path = tmp_path / "trunc.npz"
    path.write_bytes(data[:cut])
    error_message(path)


@pytest.mark.parametrize(
    "content",
    [
        b"hello, I am a text file\n",
        bytes(range(256)) * 4,
        b"PK\x03\x04 not really a zip",
        b"\x1f\x8b\x08\x00 gzip-ish",
    ],
    ids=["text", "binary", "zip-magic", "gzip-magic"],
)
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "c.npz"
    path.write_bytes(content)
    error_message(path)


def test_single_npy_array_is_not_a_checkpoint(tmp_path):
    """A .npy file (one array, not an .npz archive) is a valid numpy file but not a checkpoint."""
    path = tmp_path / "weights.npy"
    np.save(path, np.zeros((10, 12), np.float32))
    error_message(path)


def test_object_array_is_refused(tmp_path):
    arrays, meta = valid_parts()
    arrays["layers.1.weight"] = np.array([{"evil": 1}, [1, 2]], dtype=object)
    path = write_npz(tmp_path / "obj.npz", arrays, meta, allow_pickle=True)
    text = error_message(path)
    assert "object" in text.lower() or "pickle" in text.lower()


def _drop(*names):
    def mutate(arrays, meta):
        for name in names:
            del arrays[name]
    return mutate


def _add(name, value):
    def mutate(arrays, meta):
        arrays[name] = value
    return mutate


def _replace(name, make):
    def mutate(arrays, meta):
        arrays[name] = make(arrays[name])
    return mutate


def _meta(**changes):
    def mutate(arrays, meta):
        for key, value in changes.items():
            if value is _DELETE:
                meta.pop(key, None)
            else:
                meta[key] = value
    return mutate


_DELETE = object()

LAYER_PROBLEMS = {
    "missing-middle-layer": _drop("layers.2.weight", "layers.2.bias"),
    "missing-last-layer": _drop("layers.3.weight", "layers.3.bias"),
    "missing-one-bias": _drop("layers.2.bias"),
    "missing-one-weight": _drop("layers.1.weight"),
    "no-layers": _drop(*(f"layers.{l}.{k}" for l in (1, 2, 3) for k in ("weight", "bias"))),
    "extra-array": _add("extra", np.zeros(3, np.float32)),
    "extra-layer-weight": _add("layers.4.weight", np.zeros((2, 10), np.float32)),
    "extra-layer": lambda a, m: a.update({"layers.4.weight": np.zeros((2, 10), np.float32),
                                           "layers.4.bias": np.zeros(2, np.float32)}),
    "layer-zero": lambda a, m: a.update({"layers.0.weight": a.pop("layers.1.weight"),
                                         "layers.0.bias": a.pop("layers.1.bias")}),
    "inputs-mismatch": _replace("layers.2.weight", lambda W: W[:, :-1]),
    "outputs-mismatch": _replace("layers.1.weight", lambda W: W[:-1]),
    "bias-too-long": _replace("layers.2.bias", lambda b: np.append(b, b[:1])),
    "bias-2d": _replace("layers.1.bias", lambda b: b[:, None]),
    "weight-1d": _replace("layers.3.weight", lambda W: W.reshape(-1)),
    "weight-3d": _replace("layers.1.weight", lambda W: W[:, :, None]),
    "mixed-dtypes": _replace("layers.2.weight", lambda W: W.astype(np.float64)),
    "integer-weights": lambda a, m: a.update({k: v.astype(np.int32) for k, v in a.items()}),
    "unknown-activation": _meta(activation="sigmod"),
    "unknown-output": _meta(output="relu"),
    "sizes-mismatch": _meta(sizes=[12, 8, 6, 10]),
    "image-shape-mismatch": _meta(image_shape=[28, 28]),
    "image-shape-missing": _meta(image_shape=_DELETE),
}


@pytest.mark.parametrize("mutate", list(LAYER_PROBLEMS.values()), ids=list(LAYER_PROBLEMS))
def test_arrays_that_do_not_fit(tmp_path, mutate):
    arrays, meta = valid_parts()
    mutate(arrays, meta)
    error_message(write_npz(tmp_path / "bad.npz", arrays, meta))


@pytest.mark.parametrize("version", [0, 2, 99, "1", 1.5, None, _DELETE],
                         ids=lambda v: "deleted" if v is _DELETE else repr(v))
def test_unknown_format_version(tmp_path, version):
    arrays, meta = valid_parts()
    _meta(format_version=version)(arrays, meta)
    text = error_message(write_npz(tmp_path / "v.npz", arrays, meta))
    assert "version" in text


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"\xff\xfe\x00\x01", b'{"format_version": 1', b"[1, 2, 3]", b'"a string"',
     b"null"],
    ids=["syntax", "empty", "not-utf8", "unterminated", "list", "string", "null"],
)
def test_metadata_not_a_json_object(tmp_path, raw):
    arrays, _ = valid_parts()
    text = error_message(write_npz(tmp_path / "m.npz", arrays, raw))
    assert "metadata" in text


@pytest.mark.parametrize(
    "metadata",
    [None, np.zeros(5, np.float32), np.zeros((2, 8), np.uint8), np.array([1, 2, 3], np.int64)],
    ids=["absent", "float-array", "2d-uint8", "int64-array"],
)
def test_metadata_missing(tmp_path, metadata):
    arrays, _ = valid_parts()
    if metadata is not None:
        arrays["metadata"] = metadata
    text = error_message(write_npz(tmp_path / "m.npz", arrays))
    assert "metadata" in text


@pytest.mark.parametrize(
    "changes",
    [
        {"activation": ["sigmoid"]},
        {"output": {"name": "softmax"}},
        {"image_shape": ["4", "3"]},
        {"image_shape": [None, 3]},
        {"image_shape": "12"},
    ],
    ids=["activation-list", "output-dict", "image-shape-strings", "image-shape-null",
         "image-shape-string"],
)
def test_ill_typed_metadata_fields(tmp_path, changes):
    """Wrong JSON types in metadata are a malformed checkpoint, not a crash."""
    arrays, meta = valid_parts()
    meta.update(changes)
    error_message(write_npz(tmp_path / "m.npz", arrays, meta))


# --------------------------------------------------------------------------- resolve_checkpoint


def test_resolve_checkpoint_run_dir(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    network = make_network([12, 10])
    save_checkpoint(run / "checkpoints" / "best.npz", network, make_metadata(network))
    save_checkpoint(run / "checkpoints" / "last.npz", network, make_metadata(network, epoch=9))
    best = resolve_checkpoint(run)
    assert best == run / "checkpoints" / "best.npz"
    assert load_checkpoint(best)[1]["epoch"] == 3
    assert resolve_checkpoint(str(run)) == best


def test_resolve_checkpoint_file_is_returned_as_is(tmp_path):
    path = tmp_path / "run" / "checkpoints" / "epoch-003.npz"
    assert resolve_checkpoint(path) == path
    assert resolve_checkpoint(str(path)) == path


@pytest.mark.parametrize("layout", ["empty", "no-checkpoints-dir", "only-last"])
def test_resolve_checkpoint_dir_without_checkpoints(tmp_path, layout):
    run = tmp_path / "run"
    run.mkdir()
    if layout == "no-checkpoints-dir":
        (run / "config.yaml").write_text("model: {}\n")
    elif layout == "only-last":
        (run / "checkpoints").mkdir()
        network = make_network([12, 10])
        save_checkpoint(run / "checkpoints" / "last.npz", network, make_metadata(network))
    with pytest.raises(CheckpointError) as e:
        resolve_checkpoint(run)
    assert str(run) in str(e.value)
    assert "best.npz" in str(e.value)

"""Shared fixtures: a CLI runner and small configs on a subset of the bundled MNIST."""

from __future__ import annotations

import fcntl
import gzip
import os
import resource
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import cli

QUICK = {"data": {"limit": 2000, "validation": 500}}


# The heaviest modules first: pytest-xdist hands tests out in collection order, so the long ones
# (Ray, real processes, a browser) start while the many quick ones can still fill in around them,
# instead of one worker finishing a sweep test alone at the end. A module's tests stay together
# (their module-scoped fixtures are built once) and in their order.
HEAVY_MARKERS = ({"ray"}, {"slow", "subprocess", "browser"})


def pytest_collection_modifyitems(items) -> None:
    def weight(markers: set[str]) -> int:
        return next((i for i, heavy in enumerate(HEAVY_MARKERS) if markers & heavy),
                    len(HEAVY_MARKERS))

    modules: dict[str, int] = {}
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        modules[item.module.__name__] = min(modules.get(item.module.__name__, 9), weight(marks))
    items.sort(key=lambda item: modules[item.module.__name__])  # stable: same order within


@pytest.fixture(scope="session", autouse=True)
def bundled_mnist_decoded_once():
    """The bundled MNIST files decoded once per test process, not once per training: hundreds of
    in-process runs read them, and gunzipping 47 MB of pixels is 0.15-0.2 s each time (a fifth
    of the suite's in-process CPU). A file is reused only while its size and modification time
    are those it was decoded with (read_once.file_stamp, as a sweep's trials reuse a file); each
    reader gets its own copy, as from the file. Files elsewhere, and every other step of
    reading (opening, the gzip check, the header and size checks of tests/io), are untouched;
    real processes decode as always."""
    from nnctl.io import idx
    from nnctl.io.examples import BUNDLED_DIR
    from nnctl.io.read_once import file_stamp

    decode, decoded = idx._read_idx_stream, {}

    def read_stream(stream, name: str, size: int, gzipped: bool) -> np.ndarray:
        path = os.path.realpath(name)
        if os.path.dirname(path) != str(BUNDLED_DIR):
            return decode(stream, name, size, gzipped)
        key = (path, file_stamp(path), size, gzipped)
        if key not in decoded:
            decoded[key] = decode(stream, name, size, gzipped)
        return decoded[key].copy()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(idx, "_read_idx_stream", read_stream)
        yield


def assert_one_line_error(result, status: int, *words: str) -> None:
    """A CLI result that failed with `status` and one line `Error: ...` holding every word."""
    assert result.exit_code == status, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, its threads and its finished children: what a
    test may bound where wall-clock time would depend on how busy the machine is."""
    me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                        resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def cpu_timed(action, *args):
    """action(*args) and the CPU seconds it took (`cpu_seconds`)."""
    start = cpu_seconds()
    result = action(*args)
    return result, cpu_seconds() - start


def checkpoints(run_dir: Path) -> dict[str, bytes]:
    """A run's checkpoints by name, with their bytes."""
    return {p.name: p.read_bytes() for p in sorted((run_dir / "checkpoints").glob("*.npz"))}


def uninterrupted_checkpoints(tmp_path_factory, config_of: Callable[[str], object]
                              ) -> dict[str, dict[str, bytes]]:
    """The checkpoints of a run never stopped, per engine (fused, reference), trained with
    `config_of(engine)`: what a stopped-then-resumed run must write, byte for byte."""
    from nnctl.tasks.train import train

    runs = {}
    for engine in ("fused", "reference"):
        run_dir = tmp_path_factory.mktemp("whole") / engine
        train(config_of(engine), run_dir)
        runs[engine] = checkpoints(run_dir)
    return runs


def snapshot(directory: Path) -> dict:
    """Every file below `directory` with its bytes: compare before and after a command."""
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def sigterm_after_chunks(monkeypatch, calls: int) -> None:
    """Make training's engine send this process SIGTERM after its `calls`-th chunk (training
    defers it to the chunk boundary and saves a mid-epoch checkpoint)."""
    import os
    import signal

    import nnctl.tasks.train

    make_engine = nnctl.tasks.train.make_engine

    def engine_that_gets_a_signal(*args):
        run_chunk, count = make_engine(*args), [0]

        def wrapped(*chunk_args):
            result = run_chunk(*chunk_args)
            count[0] += 1
            if count[0] == calls:
                os.kill(os.getpid(), signal.SIGTERM)
            return result

        return wrapped

    monkeypatch.setattr(nnctl.tasks.train, "make_engine", engine_that_gets_a_signal)


def sigint_after_epoch(epoch: int):
    """An `on_epoch` for training that sends this process SIGINT once epoch `epoch` is done
    (training defers it: the run stops at that epoch's end, its checkpoints written)."""
    import os
    import signal

    def interrupt(record: dict) -> None:
        if record["epoch"] == epoch:
            os.kill(os.getpid(), signal.SIGINT)

    return interrupt


@pytest.fixture
def run():
    """run(*args) -> click Result, with stdout and stderr kept apart."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def write_config(tmp_path):
    """write_config(dict, name) -> path of a YAML config merged over a quick MNIST subset."""

    def write(config: dict, name: str = "config.yaml") -> Path:
        merged = {section: dict(QUICK.get(section, {}), **config.get(section, {}))
                  for section in set(QUICK) | set(config)}
        path = tmp_path / name
        path.write_text(yaml.safe_dump(merged))
        return path

    return write


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """A minimal IDX writer (independent of nnctl) for tests that make their own datasets."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    big = array.astype(array.dtype.newbyteorder(">"))
    header = (bytes([0, 0, codes[big.dtype], array.ndim])
              + struct.pack(f">{array.ndim}I", *array.shape))
    data = header + big.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.fixture
def tiny_dataset(tmp_path):
    """make(shape, n_train, n_test, classes) -> a data dir of random images with standard names."""

    def make(shape=(8, 6), n_train=300, n_test=100, classes=3, seed=0) -> Path:
        rng = np.random.default_rng(seed)
        directory = tmp_path / f"data-{'x'.join(map(str, shape))}"
        directory.mkdir()
        for prefix, n in (("train", n_train), ("t10k", n_test)):
            labels = rng.integers(0, classes, n).astype(np.uint8)
            # each class lights up its own block of pixels, plus noise: learnable
            images = rng.integers(0, 60, (n, *shape)).astype(np.uint8)
            flat = images.reshape(n, -1)
            block = flat.shape[1] // classes
            for k in range(classes):
                flat[labels == k, k * block:(k + 1) * block] = 250
            write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
            write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
        return directory

    return make


def shared_dir(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory made once per test session, even when pytest-xdist runs it in several worker
    processes: the first to ask calls `build(path)` under a lock, the others wait for it and use
    what it made. Its users only read it (a test that changes it works on a copy)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's directory, above each worker's own
    path = root / f"shared-{name}"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not (root / f"shared-{name}.built").exists():
            shutil.rmtree(path, ignore_errors=True)  # a build that failed half-way
            path.mkdir()
            build(path)
            (root / f"shared-{name}.built").touch()
    return path


@pytest.fixture(scope="session")
def digit_reader(tmp_path_factory) -> Path:
    """A run of 784-100-10 trained on 20,000 MNIST digits for 3 epochs (a few seconds): it reads
    typeset digits and digits drawn with a mouse (`nnctl serve`'s tests). Trained once per test
    session (`shared_dir`): read it, never change it."""
    from nnctl.io.config import config_from_dict
    from nnctl.tasks.train import train

    def build(where: Path) -> None:
        config = config_from_dict({"model": {"hidden": [100]}, "training": {"epochs": 3},
                                   "data": {"limit": 20000, "validation": 1000}},
                                  "digit-reader")
        train(config, where / "digit-reader")

    return shared_dir(tmp_path_factory, "digit-reader", build) / "digit-reader"


SAMPLE = 200  # MNIST test digits in the `digits` sample: every 50th of the 10,000


@pytest.fixture(scope="session")
def digits():
    """SAMPLE of the bundled MNIST test digits, spread over the file, and their labels."""
    from nnctl.io.config import DataConfig
    from nnctl.io.examples import data_paths
    from nnctl.io.idx import read_examples

    images, labels = read_examples(*(data_paths(DataConfig())[key]
                                     for key in ("test_images", "test_labels")))
    step = len(images) // SAMPLE
    return images[::step][:SAMPLE], labels[::step][:SAMPLE]


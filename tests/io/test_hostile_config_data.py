"""Hostile configs and data files: each is refused in bounded time and memory with one line
`Error: ...` naming the file (or the --set key) and the problem, with the documented exit status
(2 config, 1 data), and nothing that existed before is changed."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, cpu_seconds, cpu_timed, snapshot, write_idx

from nnctl.errors import ConfigError, DataError
from nnctl.io.config import load_config
from nnctl.io.examples import check_every_class
from nnctl.io.idx import read_idx

REPO = Path(__file__).resolve().parents[2]
SECONDS = 5.0  # CPU seconds, generous: each case takes well under one
MEMORY = 1536 * 2**20  # address space of the subprocess runs (interpreter and numpy included)


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({memory}, {memory}))
from nnctl.cli import cli
cli(sys.argv[1:], prog_name="nnctl")
"""


def run_limited(*args) -> subprocess.CompletedProcess:
    """`nnctl ARGS` in a subprocess limited to MEMORY of address space and 30 s (a hang fails)."""
    code = LIMITED.format(memory=MEMORY)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=30, cwd=REPO)


def assert_limited_error(proc: subprocess.CompletedProcess, status: int, *words: str) -> None:
    assert proc.returncode == status, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
    for word in words:
        assert word in lines[0], (word, lines[0])


def idx_header(code: int, dims) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def zeros_gzip(n_bytes: int, member: int = 1 << 24) -> bytes:
    """A gzip stream of n_bytes zeros, quickly: one compressed member repeated (multi-member)."""
    whole, rest = divmod(n_bytes, member)
    return gzip.compress(bytes(member), 9) * whole + gzip.compress(bytes(rest), 9)


# --------------------------------------------------------------------------- config files


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for name in "bcdefghi":
        previous = chr(ord(name) - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\nmodel: {hidden: *i}\n"


CONFIG_FILES = {
    # aliases: refused before any expansion
    "billion-laughs": (billion_laughs(), ["line 1", "YAML aliases (&, *) are not allowed"]),
    "anchor-alone": ("model: &m {hidden: [10]}\n", ["line 1", "YAML aliases"]),
    "merge-alias": ("base: &b {epochs: 1}\ntraining:\n  <<: *b\n", ["YAML aliases"]),
    # nesting: refused before PyYAML recurses
    "deep-list": ("model: {hidden: " + "[" * 30000 + "]" * 30000 + "}\n",
                  ["nested deeper than 20"]),
    "deep-mapping": ("model: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
                     ["nested deeper than 20"]),
    "deep-block": ("".join(" " * i + f"k{i}:\n" for i in range(40)), ["line 21", "nested deeper"]),
    # duplicate keys: named with both lines
    "duplicate-section": ("training:\n  epochs: 3\nmodel: {}\ntraining:\n  seed: 1\n",
                          ["line 4", "duplicate key 'training' (first on line 1)"]),
    "duplicate-key": ("training:\n  epochs: 2\n  epochs: 3\n",
                      ["line 3", "duplicate key 'epochs' (first on line 2)"]),
    "duplicate-in-flow": ("model: {hidden: [1], hidden: [2]}\n", ["duplicate key 'hidden'"]),
    # numbers that could blow up
    "huge-literal": ("training: {epochs: " + "9" * 5000 + "}\n", ["more than 100 digits"]),
    "epochs-1e30": ("training: {epochs: " + str(10**30) + "}\n", ["training.epochs", "2**63 - 1"]),
    "seed-2^64": ("training: {seed: " + str(2**64) + "}\n", ["training.seed", "2**63 - 1"]),
    "limit-huge": ("data: {limit: " + str(10**25) + "}\n", ["data.limit", "2**63 - 1"]),
    "validation-huge": ("data: {validation: " + str(2**63) + "}\n", ["data.validation", "2**63"]),
    "int-as-float-inf": ("training: {learning_rate: " + "9" * 99 + "0" * 300 + "}\n",
                         ["more than 100 digits"]),
    "lr-beyond-float32": ("training: {learning_rate: 1.0e39}\n",
                          ["training.learning_rate", "does not fit training.dtype float32"]),
    "lr-below-float32": ("training: {learning_rate: 1.0e-50}\n",
                         ["training.learning_rate", "smallest normal float32"]),
    "lr-beyond-float64": ("training: {learning_rate: 1.0e309}\n", ["finite"]),
    "scale-beyond-float32": ("model: {init: {scale: 1.0e39}}\n",
                             ["model.init.scale", "does not fit"]),
    # networks that would not fit in memory
    "hidden-10M": ("model: {hidden: [10000000]}\n", ["model.hidden", "100,000", "[10000000]"]),
    "hidden-too-many-bytes": ("model: {hidden: [100000, 100000, 100000]}\n",
                              ["model.hidden", "20,079,400,000 weights", "GiB", "memory"]),
    "hidden-200-layers": ("model: {hidden: [" + ", ".join(["1"] * 200) + "]}\n",
                          ["model.hidden", "at most 100 hidden layers"]),
    # keys that are not names
    "int-key": ("1: 2\n", ["1: unknown key"]),
    "list-key": ("[a]: b\n", ["line 1", "unhashable key"]),
    "mapping-key": ("? {a: 1}\n: 2\n", ["unhashable key"]),
    "long-key": ("? " + "x" * 5000 + "\n: 1\n", ["unknown key", "xxx..."]),
    "wrong-section": ("learning_rate: 0.1\n", ["learning_rate: unknown key",
                                               "did you mean 'training.learning_rate'"]),
}


@pytest.mark.parametrize("text, words", list(CONFIG_FILES.values()), ids=list(CONFIG_FILES))
def test_hostile_config_file(run, tmp_path, text, words):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    before = snapshot(tmp_path)
    tracemalloc.start()
    try:
        result, seconds = cpu_timed(run, "train", config, "--out", tmp_path / "run")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line_error(result, 2, str(config), *words)
    assert len(result.stderr) < 400, result.stderr  # never the expanded or repr'd value
    assert seconds < SECONDS and peak < 64 * 2**20, (seconds, peak)
    assert snapshot(tmp_path) == before


def test_billion_laughs_in_bounded_memory(tmp_path):
    config = tmp_path / "laughs.yaml"
    config.write_text(billion_laughs())
    assert len(config.read_bytes()) < 1024
    assert_limited_error(run_limited("train", config, "--out", tmp_path / "run"), 2,
                         str(config), "YAML aliases")
    assert not (tmp_path / "run").exists()


BAD_FILES = {
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["is an image, not a YAML config"]),
    "binary": (b"\x89\x00\xff\xfe" * 8, ["not a UTF-8 text file", "0x89"]),
    "utf-16": ("model: {}\n".encode("utf-16"), ["not a UTF-8 text file"]),
    "nul-bytes": (b"model: {}\n\x00\x01\x02", ["character #x0", "not allowed"]),
    "too-large": (b"# a comment\n" * 6000, ["72,000 bytes", "65,536"]),
}


@pytest.mark.parametrize("data, words", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_config_that_is_not_a_small_text_file(run, tmp_path, data, words):
    config = tmp_path / "config.yaml"
    config.write_bytes(data)
    result, seconds = cpu_timed(run, "train", config, "--out", tmp_path / "run")
    assert_one_line_error(result, 2, str(config), *words)
    assert seconds < SECONDS
    assert not (tmp_path / "run").exists()


def test_config_that_is_a_directory(run, tmp_path):
    config = tmp_path / "config.yaml"
    config.mkdir()
    assert_one_line_error(run("train", config, "--out", tmp_path / "run"), 2, str(config),
                          "is a directory")


def test_config_that_is_a_fifo_does_not_hang(tmp_path):
    config = tmp_path / "config.yaml"
    os.mkfifo(config)
    start = cpu_seconds()
    proc = run_limited("train", config, "--out", tmp_path / "run")  # no writer: open would block
    assert_limited_error(proc, 2, str(config), "not a regular file")
    assert cpu_seconds() - start < 30
    assert not (tmp_path / "run").exists()


def test_config_limits_keep_real_configs_working(tmp_path):
    """Depth 20, 64 KiB, 100 layers of 100,000 units at most: far beyond any real config."""
    config = tmp_path / "config.yaml"
    config.write_text("# comment\n" * 6000 + "model:\n  hidden: [100000]\ntraining:\n  stop: {}\n")
    assert load_config(config).model.hidden == [100000]
    config.write_text("model: {hidden: [" + ", ".join(["3"] * 100) + "]}\n")
    assert len(load_config(config).model.hidden) == 100


# --------------------------------------------------------------------------- --set


SET_ERRORS = {
    "training.epochs=many": "--set training.epochs: must be a whole number, got 'many'",
    "training.lr=0.05": "--set training.lr: unknown key (did you mean 'training.learning_rate'?)",
    "model.activation=Relu": "--set model.activation: unknown value 'Relu' (did you mean 'relu'?)",
    "training.learning_rate=1e39": "--set training.learning_rate: 1e+39 does not fit",
    "training={epochs: x}": "--set training: training.epochs: must be a whole number",
    "trainig.epochs=3": "--set trainig.epochs: trainig: unknown key (did you mean 'training'?)",
    "model.hidden=&a [1]": "--set model.hidden: line 1, column 1: YAML aliases",
    "model.hidden=" + "[" * 2000 + "]" * 2000:
        "--set model.hidden: line 1, column 21: nested deeper",
    "model.hidden={a: 1, a: 2}": "--set model.hidden: line 1, column 8: duplicate key 'a'",
    "training.epochs=" + "1" * 5000: "--set training.epochs: longer than 4096 characters",
    "x" * 5000 + "=1": "--set " + "x" * 37 + "...: longer than 4096 characters",
    "model.hidden=[10000000]": ("--set model.hidden: every hidden layer size must be > 0 "
                                "and <= 100,000"),
}


@pytest.mark.parametrize("item, expected", list(SET_ERRORS.items()),
                         ids=[k[:30] for k in SET_ERRORS])
def test_set_errors_name_the_set_key_not_the_file(run, write_config, tmp_path, item, expected):
    config = write_config({"training": {"epochs": 1}})
    result, seconds = cpu_timed(run, "train", config, "--set", item, "--out", tmp_path / "run")
    assert_one_line_error(result, 2, f"Error: {expected}")
    assert str(config) not in result.stderr
    assert result.stderr.count("'Relu'") <= 1
    assert len(result.stderr) < 400 and seconds < SECONDS
    assert not (tmp_path / "run").exists()


def test_errors_in_the_file_still_name_the_file(run, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("training: {epochs: many}\n")
    result = run("train", config, "--set", "training.seed=3", "--out", tmp_path / "run")
    assert_one_line_error(result, 2, f"{config}: training.epochs: must be a whole number")
    result = run("train", config, "--set", "training.epochs=2", "--set", "training.lr=1",
                 "--out", tmp_path / "run")
    assert_one_line_error(result, 2, "--set training.lr: unknown key")


@pytest.mark.parametrize("key, target", [
    ("training.epochs_max", "training.epochs"),
    ("training.max_epochs", "training.epochs"),
    ("training.n_epochs", "training.epochs"),
    ("model.hidden_layers", "model.hidden"),
    ("model.hidden_sizes", "model.hidden"),
    ("model.layers", "model.hidden"),
    ("training.optimizer", "training.rule"),
    ("model.activation_function", "model.activation"),
    ("model.weight_init", "model.init.scheme"),
    ("training.random_seed", "training.seed"),
    ("epochs", "training.epochs"),
])
def test_names_from_other_tools_suggest_ours(run, write_config, tmp_path, key, target):
    result = run("train", write_config({}), "--set", f"{key}=1", "--out", tmp_path / "run")
    assert_one_line_error(result, 2, f"--set {key}: unknown key (did you mean '{target}'?)")


@pytest.mark.parametrize("key, words", [
    ("training.batch_size", ["per example", "no batch size"]),
    ("training.weight_decay", ["weight decay is not supported", "training.max_norm"]),
])
def test_what_nnctl_does_not_do_is_explained(run, write_config, tmp_path, key, words):
    result = run("train", write_config({}), "--set", f"{key}=1", "--out", tmp_path / "run")
    assert_one_line_error(result, 2, f"--set {key}: unknown key: ", *words)


# --------------------------------------------------------------------------- data files


def data_dir(tmp_path: Path, images: bytes | None = None, labels: bytes | None = None) -> Path:
    """A directory with the two training files, the given (gzipped) bytes or small valid ones."""
    directory = tmp_path / "data"
    directory.mkdir()
    rng = np.random.default_rng(0)
    good_labels = np.arange(30, dtype=np.uint8) % 3
    write_idx(directory / "train-images-idx3-ubyte.gz",
              rng.integers(0, 255, (30, 4, 4)).astype(np.uint8))
    write_idx(directory / "train-labels-idx1-ubyte.gz", good_labels)
    if images is not None:
        (directory / "train-images-idx3-ubyte.gz").write_bytes(images)
    if labels is not None:
        (directory / "train-labels-idx1-ubyte.gz").write_bytes(labels)
    return directory


def test_gzip_bomb_is_refused_by_its_header_in_bounded_memory(tmp_path):
    """4 MB whose header promises 3.2M images (2.5 GB); it really decompresses to that much."""
    bomb = gzip.compress(idx_header(0x08, (3_200_000, 28, 28))) + zeros_gzip(2_508_800_000)
    assert len(bomb) < 4 * 2**20
    directory = data_dir(tmp_path, images=bomb)
    before = snapshot(tmp_path)
    start = cpu_seconds()
    proc = run_limited("data", "info", directory)
    assert_limited_error(proc, 1, "train-images-idx3-ubyte.gz", "2,508,800,000 bytes",
                         "3200000x28x28", "more than the 2 GiB")
    assert cpu_seconds() - start < 15  # the subprocess starts Python and numpy
    assert snapshot(tmp_path) == before


def test_gzip_stream_longer_than_its_header_is_stopped_after_it(run, tmp_path):
    """The header promises 10,000 images (7.8 MB); the stream holds 400 MB: read no further."""
    images = gzip.compress(idx_header(0x08, (10_000, 28, 28))) + zeros_gzip(400 * 2**20)
    directory = data_dir(tmp_path, images=images)
    tracemalloc.start()
    try:
        result, seconds = cpu_timed(run, "data", "info", directory)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_one_line_error(result, 1, "train-images-idx3-ubyte.gz", "7840000 bytes of data expected",
                          "the file has more")
    assert peak < 64 * 2**20 and seconds < SECONDS, (peak, seconds)


@pytest.mark.parametrize("promised, real", [(2 * 2**30 - 2**20, 0), (500 * 2**20, 8 * 2**20)],
                         ids=["2GiB-in-a-tiny-file", "500MB-promised-8MB-there"])
def test_a_header_promising_more_than_the_stream_holds(tmp_path, promised, real):
    """Memory follows the data that is really there, never the header's promise."""
    path = tmp_path / "images.gz"
    path.write_bytes(gzip.compress(idx_header(0x08, (promised // 16, 4, 4))) + zeros_gzip(real))
    tracemalloc.start()
    try:
        start = cpu_seconds()
        with pytest.raises(DataError, match="truncated") as e:
            read_idx(path)
        seconds = cpu_seconds() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(e.value).startswith(f"{path}: truncated: the header promises {promised} bytes")
    assert peak < real + 48 * 2**20 and seconds < SECONDS, (peak, seconds)


IDX_HEADERS = {
    "255-dimensions": (idx_header(0x08, (1,) * 255), ["255 dimensions", "at most 16"]),
    "17-dimensions": (idx_header(0x08, (1,) * 17) + b"\x00", ["17 dimensions"]),
    "zero-width": (idx_header(0x08, (60000, 28, 0)), ["size of 0", "60000x28x0"]),
    "zero-count-huge-items": (idx_header(0x08, (0, 2**32 - 1, 2**32 - 1)),
                              ["18,446,744,065,119,617,025 bytes", "more than the 2 GiB"]),
    "zero-count": (idx_header(0x08, (0, 4, 4)), ["the dataset is empty"]),
}


@pytest.mark.parametrize("images, words", list(IDX_HEADERS.values()), ids=list(IDX_HEADERS))
def test_idx_headers_that_make_no_images(run, tmp_path, images, words):
    no_labels = gzip.compress(idx_header(0x08, (0,)))
    directory = data_dir(tmp_path, images=gzip.compress(images), labels=no_labels)
    result, seconds = cpu_timed(run, "data", "info", directory)
    assert_one_line_error(result, 1, "train-images-idx3-ubyte.gz", *words)
    assert seconds < SECONDS


@pytest.mark.parametrize("labels, words", [
    (np.array([0, 2_000_000_000, 1] * 10, ">i4"), ["label 2000000000 is not a class index"]),
    (np.array([0, 1, -3] * 10, ">i4"), ["negative label -3"]),
    (np.array([0, 1, -128] * 10, "i1"), ["negative label -128"]),
    (np.array([0, 1, 1000] * 10, ">i2"), ["label 1000 is not a class index", "0..999"]),
], ids=["2e9", "negative-int32", "negative-int8", "1000"])
def test_labels_that_are_not_class_indices(run, tmp_path, labels, words):
    directory = data_dir(tmp_path)
    write_idx(directory / "train-labels-idx1-ubyte.gz", labels)
    result, seconds = cpu_timed(run, "data", "info", directory)
    assert_one_line_error(result, 1, "train-labels-idx1-ubyte.gz", *words)
    assert seconds < SECONDS


def test_a_stray_label_does_not_make_a_class(run, write_config, tiny_dataset, tmp_path):
    directory = tiny_dataset(shape=(4, 4), classes=3)
    labels_path = directory / "train-labels-idx1-ubyte.gz"
    labels = np.frombuffer(gzip.decompress(labels_path.read_bytes())[8:], np.uint8).copy()
    labels[17] = 200
    write_idx(labels_path, labels)
    config = write_config({"data": {"dir": str(directory), "limit": None, "validation": 50}})
    before = snapshot(tmp_path)
    result = run("train", config, "--out", tmp_path / "run")
    assert_one_line_error(result, 1, str(labels_path),
                          "label 200 occurs once but labels 3..199 never do")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("labels, problem", [
    ([0, 1, 2, 2], None),
    ([1, 2, 3, 1], None),  # 1-based labels (EMNIST Letters): class 0 is unused, not a gap
    ([0, 2, 2, 0], "label 2 occurs 2 times but label 1 never does"),
    ([0, 1, 5, 9, 9], "label 5 occurs once but labels 2..4 never do"),
])
def test_check_every_class(labels, problem):
    if problem is None:
        check_every_class(np.array(labels), "labels")
        return
    with pytest.raises(DataError, match=problem):
        check_every_class(np.array(labels), "labels")


def test_data_file_that_is_a_fifo_does_not_hang(tmp_path):
    directory = data_dir(tmp_path)
    images = directory / "train-images-idx3-ubyte.gz"
    images.unlink()
    os.mkfifo(images)
    assert_limited_error(run_limited("data", "info", directory), 1, str(images),
                         "not a regular file")


def test_library_calls_raise_the_project_errors(tmp_path):
    laughs, empty = tmp_path / "laughs.yaml", tmp_path / "empty.yaml"
    laughs.write_text(billion_laughs())
    empty.write_text("")
    with pytest.raises(ConfigError, match="YAML aliases"):
        load_config(laughs)
    with pytest.raises(ConfigError, match="^--set training.epochs: must be a whole number"):
        load_config(empty, ["training.epochs=x"])

"""Never write over what is not ours; hostile inputs cost bounded time and memory and give one line.

Output options (`evaluate --figure`, `plot --out`, `inspect-weights --out`, `predict
--save-preprocessed`) refuse a run's own files always, an existing file without `--force`, and an
input always; a path Click used to refuse with a usage error is a one-line error, exit 1. Crafted
checkpoints (zip bombs, lying .npy headers, metadata nested 100,000 deep, NaN weights, empty
layers), huge images, FIFOs and malformed metrics files are refused in one line, within a memory
limit (RLIMIT_AS in a subprocess, or tracemalloc) and a time limit; nothing that existed changes.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import assert_one_line_error, cpu_seconds, snapshot
from PIL import Image

import nnctl.io.checkpoint
from nnctl.core.network import Network
from nnctl.errors import CheckpointError
from nnctl.io.checkpoint import MAX_MEMBERS, load_checkpoint, save_checkpoint
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import data_paths
from nnctl.io.idx import read_examples
from nnctl.tasks.train import train

MEMORY_LIMIT = 1536 << 20  # RLIMIT_AS of the nnctl subprocesses: less than any bomb here


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small run (one hidden layer, 2 epochs): copy it before changing anything in it."""
    config = config_from_dict({"model": {"hidden": [8]}, "training": {"epochs": 2},
                               "data": {"limit": 1500, "validation": 300}}, "test")
    out = tmp_path_factory.mktemp("hostile") / "run"
    train(config, out)
    return out


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    """A copy of the trained run, this test's own."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    paths = data_paths(DataConfig())
    return read_examples(paths["test_images"], paths["test_labels"])[0][:4]


@pytest.fixture
def no_hang():
    """A test that would block (on a FIFO) fails after 20 s instead of hanging."""
    def expired(signum, frame):
        raise TimeoutError("blocked: a FIFO was opened for reading")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def nnctl_limited(*args, memory: int = MEMORY_LIMIT, timeout: float = 60) -> SimpleNamespace:
    """`python -m nnctl ARGS` with its address space limited to `memory`; exit code, stdout,
    stderr and the CPU seconds it took, like a click Result."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    start = cpu_seconds()
    done = subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], check=False,
                          capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
                          env=env, cwd=Path(__file__).resolve().parents[2])
    return SimpleNamespace(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr,
                           seconds=cpu_seconds() - start)


@contextmanager
def peak_memory(limit: int):
    """Fail if the block allocates (through Python or numpy) more than `limit` bytes at a time."""
    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < limit, f"peak {peak:,} bytes"


def digit_png(pixels: np.ndarray, path: Path, form: str = "PNG") -> Path:
    Image.fromarray(255 - pixels).convert("RGB").save(path, format=form)
    return path


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    """The bytes of a .npy version 1.0 header (no data)."""
    text = repr({"descr": dtype, "fortran_order": False, "shape": shape})
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def zeros_deflated(head: bytes, mebibytes: int) -> bytes:
    """A raw deflate stream of `head` and then `mebibytes` MiB of zeros, made in milliseconds: a
    block of 1 MiB of zeros after a full flush decodes alone, so it is repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return start + block * mebibytes + c.flush(zlib.Z_FINISH)


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of (name, deflated data, declared size, declared CRC) members, as they are given:
    nothing checks that the declarations are true."""
    local, central = b"", b""
    for name, data, size, crc in members:
        encoded = name.encode()
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc,
                               len(data), size, len(encoded), 0, 0, 0, 0, 0, len(local)) + encoded
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size,
                             len(encoded), 0) + encoded + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central),
                      len(local), 0)
    return local + central + end


def checkpoint_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def with_metadata(source: Path, path: Path, raw: bytes) -> Path:
    """`source`'s arrays with `raw` as the metadata's bytes."""
    members = checkpoint_members(source)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.frombuffer(raw, np.uint8))
    members["metadata.npy"] = buffer.getvalue()
    return rezip(path, members)


def with_weights(run_dir: Path, path: Path, change) -> Path:
    network, meta = load_checkpoint(run_dir / "checkpoints" / "best.npz")
    change(network)
    save_checkpoint(path, network, meta)
    return path


# --------------------------------------------------------------------------- 1. predict's outputs


def test_save_preprocessed_never_overwrites(run, trained, digits, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    digit_png(digits[0], folder / "photo.png")
    digit_png(digits[1], folder / "photo.jpg", "JPEG")
    inputs = snapshot(folder)

    first = run("predict", trained, folder, "--save-preprocessed", folder)
    assert first.exit_code == 0, first.stderr
    assert snapshot(folder).items() >= inputs.items()  # the inputs as they were
    assert sorted(p.name for p in folder.iterdir()) == [
        "contact-sheet.png", "photo-2.png", "photo-3.png", "photo.jpg", "photo.png"]
    lines = first.stdout.splitlines()  # photo.png is an input: the outputs take other names
    assert lines[0].endswith(f"; saved {folder / 'photo-2.png'}")
    assert lines[1].endswith(f"; saved {folder / 'photo-3.png'}")

    # again: the folder now also holds the outputs, which are inputs too, never overwritten
    before = snapshot(folder)
    for extra in ((), ("--force",)):
        again = run("predict", trained, folder, "--save-preprocessed", folder, *extra)
        assert_one_line_error(again, 1, "is one of the files this command reads")
        assert snapshot(folder) == before


def test_save_preprocessed_refuses_an_earlier_set_without_force(run, trained, digits, tmp_path):
    one = digit_png(digits[0], tmp_path / "one.png")
    two = digit_png(digits[1], tmp_path / "two.png")
    seen = tmp_path / "seen"
    assert run("predict", trained, one, two, "--save-preprocessed", seen).exit_code == 0
    (seen / "two.png").write_bytes(b"the user's own file")
    before = snapshot(tmp_path)
    refused = run("predict", trained, one, two, "--save-preprocessed", seen)
    assert_one_line_error(refused, 1, str(seen / "one.png"), "--force")
    assert snapshot(tmp_path) == before  # checked all before writing any
    forced = run("predict", trained, one, two, "--save-preprocessed", seen, "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert [json.loads(line)["preprocessed"] for line in forced.stdout.splitlines()] == [
        str(seen / "one.png"), str(seen / "two.png")]
    with Image.open(seen / "two.png") as picture:
        assert picture.size == (28, 28)


def test_two_inputs_never_share_an_output(run, trained, digits, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    files = [digit_png(digits[0], a / "x.png"), digit_png(digits[1], b / "x.png"),
             digit_png(digits[2], a / "X.PNG")]  # one file on macOS / Windows
    result = run("predict", trained, *files, "--save-preprocessed", tmp_path / "seen", "--json")
    assert result.exit_code == 0, result.stderr
    saved = [json.loads(line)["preprocessed"] for line in result.stdout.splitlines()]
    assert len({name.casefold() for name in saved}) == 3
    assert [Path(p).name for p in saved] == ["x.png", "x-2.png", "X-3.png"]


# --------------------------------------------------------------------------- 2. a run's own files


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["", "force"])
def test_outputs_never_write_a_runs_own_files(run, run_dir, digits, tmp_path, force):
    image = digit_png(digits[0], tmp_path / "d.png")
    (run_dir / "config.png").symlink_to("config.yaml")  # a figure's name for a run's own file
    before = snapshot(run_dir)
    attempts = [
        (("evaluate", run_dir, "--figure", run_dir / "checkpoints" / "best.png"), "best.png"),
        (("plot", run_dir, "--out", run_dir / "checkpoints" / "curves.svg"), "curves.svg"),
        (("plot", run_dir, "--out", run_dir / "config.png"), "config.png"),
        (("inspect-weights", run_dir, "--out", run_dir / "checkpoints"), "checkpoints"),
        (("predict", run_dir, image, "--save-preprocessed", run_dir / "checkpoints"),
         "checkpoints"),
    ]
    for args, word in attempts:
        assert_one_line_error(run(*args, *force), 1, word, "of the run")
    for args, word in [  # not a figure's name: refused before anything else (exit status 2)
        (("evaluate", run_dir, "--figure", run_dir / "checkpoints" / "best.npz"), "best.npz"),
        (("plot", run_dir, "--out", run_dir / "metrics.jsonl"), "metrics.jsonl"),
        (("plot", run_dir, "--out", run_dir / "config.yaml"), "config.yaml"),
    ]:
        assert_one_line_error(run(*args, *force), 2, word, "cannot write a figure", ".png")
    assert snapshot(run_dir) == before
    assert load_checkpoint(run_dir / "checkpoints" / "best.npz")  # the next resume still works


@pytest.mark.slow
def test_outputs_refuse_existing_files_without_force(run, run_dir, tmp_path):
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "curves.png").write_bytes(b"mine")
    (figures / "confusion.png").write_bytes(b"mine too")
    (figures / "weights-by-epoch.gif").write_bytes(b"and mine")  # the last of several outputs
    before = snapshot(figures)
    assert_one_line_error(run("plot", run_dir, "--out", figures / "curves.png"), 1, "--force")
    assert_one_line_error(run("evaluate", run_dir, "--figure", figures / "confusion.png"), 1,
                          "--force")
    refused = run("inspect-weights", run_dir, "--out", figures)
    assert_one_line_error(refused, 1, "weights-by-epoch.gif", "--force")
    assert snapshot(figures) == before  # not even hidden-units.png was written

    assert run("plot", run_dir, "--out", figures / "curves.png", "--force").exit_code == 0
    assert run("evaluate", run_dir, "--figure", figures / "confusion.png", "--force").exit_code == 0
    drawn = run("inspect-weights", run_dir, "--out", figures, "--force")
    assert drawn.exit_code == 0, drawn.stderr
    for name in ("curves.png", "confusion.png", "hidden-units.png", "weights-by-epoch.gif"):
        with Image.open(figures / name) as picture:
            assert picture.width > 50, name


def test_an_output_is_never_an_input_even_with_force(run, run_dir, tmp_path):
    checkpoint = tmp_path / "model.npz"  # not in a run: only --force would replace it
    shutil.copy(run_dir / "checkpoints" / "best.npz", checkpoint)
    (tmp_path / "model.png").symlink_to("model.npz")  # a figure's name for the checkpoint
    before = snapshot(tmp_path)
    result = run("evaluate", checkpoint, "--figure", tmp_path / "model.png", "--force")
    assert_one_line_error(result, 1, "one of the files this command reads")
    loose = tmp_path / "loose"  # a directory with a metrics file, not a run nnctl made
    loose.mkdir()
    shutil.copy(run_dir / "metrics.jsonl", loose / "metrics.jsonl")
    (loose / "metrics.pdf").symlink_to("metrics.jsonl")
    before = snapshot(tmp_path)
    result = run("plot", loose, "--out", loose / "metrics.pdf", "--force")
    assert_one_line_error(result, 1, "is one of the files this command reads")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 3. one line, exit 1


def test_output_paths_click_used_to_refuse_are_one_line_errors(run, run_dir, digits, tmp_path):
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    figure_dir = tmp_path / "a-dir.png"
    figure_dir.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    image = digit_png(digits[0], tmp_path / "d.png")
    before = snapshot(tmp_path)
    for args, word in [
        (("evaluate", run_dir, "--figure", figure_dir), "is a directory"),
        (("plot", run_dir, "--out", figure_dir), "is a directory"),
        (("plot", a_file, "--out", tmp_path / "c.png"), "not a run directory"),
        (("inspect-weights", run_dir, "--out", a_file), "not a directory"),
        (("predict", run_dir, image, "--save-preprocessed", a_file), "not a directory"),
        (("evaluate", run_dir, "--data-dir", a_file), str(a_file)),
        (("evaluate", run_dir, "--images", a_dir, "--labels", a_file), "is a directory"),
    ]:
        assert_one_line_error(run(*args), 1, word)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 4. checkpoint bombs


def test_a_zip_bomb_checkpoint_is_refused_before_it_is_inflated(tmp_path):
    mebibytes = 2862  # 3 GB of float64 zeros, deflated to 3 MB
    head = npy_header(((mebibytes << 20) // 8,))
    data = zeros_deflated(head, mebibytes)
    size = len(head) + (mebibytes << 20)
    bomb = tmp_path / "bomb.npz"
    bomb.write_bytes(raw_zip([("layers.1.weight.npy", data, size, 0)]))
    assert len(data) < 4 << 20 and size > 3_000_000_000

    result = nnctl_limited("evaluate", bomb)
    assert_one_line_error(result, 1, str(bomb), "layers.1.weight", "more than")
    assert result.seconds < 10


def test_a_member_that_inflates_past_its_declared_size_is_bounded(tmp_path):
    head = npy_header((125,))  # 1,000 bytes promised, as the zip declares, and 3 GB inside
    size = len(head) + 1000
    crc = zlib.crc32(head + bytes(1000))
    lying = tmp_path / "lying.npz"
    lying.write_bytes(raw_zip([("layers.1.weight.npy", zeros_deflated(head, 2861), size, crc)]))
    start = cpu_seconds()
    with peak_memory(20 << 20), pytest.raises(CheckpointError) as error:
        load_checkpoint(lying)
    assert cpu_seconds() - start < 5  # CPU seconds
    assert "no metadata" in str(error.value)  # read 1,000 bytes of the array, and no more


@pytest.mark.parametrize("shape", [(10**6, 10**6), (2**62, 4), (0, 2**63 - 1)])
def test_an_npy_header_promising_more_than_its_member_is_refused(run_dir, tmp_path, shape):
    members = checkpoint_members(run_dir / "checkpoints" / "best.npz")
    members["layers.1.weight.npy"] = npy_header(shape, "<f4") + bytes(64)
    path = rezip(tmp_path / "promise.npz", members)
    with peak_memory(20 << 20), pytest.raises(CheckpointError, match="promises"):
        load_checkpoint(path)


def test_too_many_members_are_refused_before_reading(run_dir, tmp_path):
    members = checkpoint_members(run_dir / "checkpoints" / "best.npz")
    members.update({f"extra.{k}.npy": b"" for k in range(MAX_MEMBERS)})
    path = rezip(tmp_path / "many.npz", members)
    with pytest.raises(CheckpointError, match="members, more than"):
        load_checkpoint(path)


@pytest.mark.parametrize("raw, words", [
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deep"),
    (b'{"a":' * 100 + b"1" + b"}" * 100, "nested more than"),
    (b'{"format_version": 1, "epoch": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (b'{"pad": "' + b"x" * (2 << 20) + b'"}', "metadata is"),
], ids=["100k-deep", "100-deep", "5000-digit-int", "2MB"])
def test_hostile_metadata_is_one_line(run, run_dir, tmp_path, raw, words):
    path = with_metadata(run_dir / "checkpoints" / "best.npz", tmp_path / "meta.npz", raw)
    start = cpu_seconds()
    assert_one_line_error(run("evaluate", path), 1, str(path), words)
    assert cpu_seconds() - start < 5  # CPU seconds


# --------------------------------------------------------------------------- 5. NaN and JSON


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(run, run_dir, digits, tmp_path, value):
    def poison(network):
        network.weights[1][3, 2] = value

    path = with_weights(run_dir, tmp_path / "nan.npz", poison)
    image = digit_png(digits[0], tmp_path / "d.png")
    for args in (("evaluate", path), ("predict", path, image),
                 ("inspect-weights", path, "--out", tmp_path / "figures")):
        assert_one_line_error(run(*args), 1, str(path), "layers.2.weight", "NaN or infinite")
    assert not (tmp_path / "figures").exists()


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"bare {constant} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_json_output_never_holds_a_bare_nan(run, run_dir, digits, tmp_path):
    def overflow(network):  # finite weights whose outputs overflow float32: inf, then NaN
        network.weights[1][:] = 3e38

    path = with_weights(run_dir, tmp_path / "huge.npz", overflow)
    evaluated = run("evaluate", path, "--json")
    assert evaluated.exit_code == 0 and evaluated.stderr == "", evaluated.stderr  # no warnings
    report = strict_json(evaluated.stdout)
    assert report["loss"] is None or math.isfinite(report["loss"])
    predicted = run("predict", path, digit_png(digits[0], tmp_path / "d.png"), "--json")
    assert predicted.exit_code == 0 and predicted.stderr == "", predicted.stderr
    result = strict_json(predicted.stdout)
    assert None in [result["probability"], *(c["probability"] for c in result["candidates"])]


# --------------------------------------------------------------------------- 6. huge images


def png_of_zeros(path: Path, width: int, height: int) -> Path:
    """A valid grey PNG of width x height black pixels, written without holding the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    c = zlib.compressobj(1)
    row = bytes(width + 1)  # filter byte 0 and the pixels
    idat = b"".join(c.compress(row) for _ in range(height)) + c.flush()
    header = struct.pack(">2I5B", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_a_huge_image_is_refused_from_its_header(trained, tmp_path):
    huge = png_of_zeros(tmp_path / "huge.png", 12000, 12000)  # Pillow's bomb warning: 1.9 GB
    large = png_of_zeros(tmp_path / "large.png", 5000, 5000)  # below Pillow's limit, above ours
    result = nnctl_limited("predict", trained, huge, large)
    assert result.exit_code == 1 and result.seconds < 20
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3 and "Traceback" not in result.stderr, result.stderr
    for line, path, size in zip(errors[:2], (huge, large), ("12000x12000", "5000x5000"),
                                strict=True):
        assert line == f"Error: {path}: refused, too many pixels ({size}; at most 16,777,216, " \
                       "such as 4096x4096)"
    assert errors[2] == "Error: 2 of 2 images could not be classified"


def test_an_image_file_over_the_size_cap_is_not_read(trained, tmp_path, run, monkeypatch):
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.truncate(60 << 20)  # sparse: 60 MB that take no room
    result = run("predict", trained, big)
    assert result.exit_code == 1
    assert "more than the 52,428,800" in result.stderr.splitlines()[0]


# --------------------------------------------------------------------------- 7. FIFOs


def test_fifos_and_devices_are_refused_not_waited_for(run, run_dir, digits, tmp_path, no_hang):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    image = digit_png(digits[0], tmp_path / "d.png")
    predicted = run("predict", run_dir, fifo, image)
    assert predicted.exit_code == 1
    assert predicted.stderr.splitlines()[0] == f"Error: {fifo}: not a regular file (a FIFO, " \
                                               "device or socket), expected an image"
    assert_one_line_error(run("evaluate", fifo), 1, str(fifo), "not a regular file")
    assert_one_line_error(run("predict", "/dev/zero", image), 1, "/dev/zero", "not a regular")
    labels = data_paths(DataConfig())["test_labels"]
    assert_one_line_error(run("evaluate", run_dir, "--images", fifo, "--labels", labels), 1,
                          str(fifo), "not a regular file")
    metrics = run_dir / "metrics.jsonl"
    metrics.unlink()
    os.mkfifo(metrics)
    assert_one_line_error(run("plot", run_dir, "--out", tmp_path / "c.png"), 1, str(metrics),
                          "not a regular file")
    folder = tmp_path / "folder"  # in a directory: a FIFO is skipped unopened, and counted
    folder.mkdir()
    os.mkfifo(folder / "pipe.png")
    shutil.copy(image, folder / "d.png")
    listed = run("predict", run_dir, folder)
    assert listed.exit_code == 0, listed.stderr
    assert listed.stderr == (f"note: skipped 1 file that is not an image: {folder / 'pipe.png'} "
                             "(name a file to have it read)\n")


# --------------------------------------------------------------------------- 8. metrics files


@pytest.mark.parametrize("content, words", [
    (b'{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8}\n\xff\xfe\n', "line 2: not UTF-8"),
    (b'[1, 2, 3]\n{"epoch": 2}\n', "line 1: not a JSON object"),
    (b'{"epoch": 1, "train_accuracy": 0.8}\n', "line 1: no train_loss"),
    (b'{"epoch": 1, "train_loss": "low", "train_accuracy": 0.8}\n', "train_loss is not a number"),
    (b'{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.8}\nnot json\n{"epoch": 3}\n',
     "line 2: not valid JSON"),
    (b"[" * 100_000 + b"\n", "line 1: not valid JSON"),
    (b"", "no finished epoch"),
], ids=["not-utf8", "not-object", "no-train-loss", "string", "not-json", "deep", "empty"])
def test_malformed_metrics_are_one_line(run, run_dir, tmp_path, content, words):
    metrics = run_dir / "metrics.jsonl"
    metrics.write_bytes(content)
    before = snapshot(tmp_path)
    assert_one_line_error(run("plot", run_dir, "--out", tmp_path / "c.png"), 1, str(metrics), words)
    assert snapshot(tmp_path) == before


def test_metrics_that_are_a_directory_or_too_large(run, run_dir, tmp_path):
    metrics = run_dir / "metrics.jsonl"
    metrics.unlink()
    metrics.mkdir()
    assert_one_line_error(run("plot", run_dir, "--out", tmp_path / "c.png"), 1, str(metrics),
                          "is a directory")
    metrics.rmdir()
    with open(metrics, "wb") as f:
        f.truncate(100 << 20)
    assert_one_line_error(run("plot", run_dir, "--out", tmp_path / "c.png"), 1, str(metrics),
                          "more than")


def test_plot_reads_a_run_being_trained(run, run_dir, tmp_path):
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_bytes().splitlines(keepends=True)
    partial = json.dumps({"epoch": 3, "train_loss": 0.1, "train_accuracy": 0.9}).encode()
    for content in (lines[0] + partial[:17],  # the last line is being appended
                    b"".join(lines).rstrip(b"\n"),  # no newline at the end yet
                    lines[0] + b'{"epoch": 2, "train_loss": null, "train_accuracy": 0.5}\n'):
        metrics.write_bytes(content)
        out = tmp_path / "curves.png"
        result = run("plot", run_dir, "--out", out, "--force")
        assert result.exit_code == 0 and result.stderr == "", result.stderr
    metrics.write_bytes(partial[:17])  # no finished epoch at all yet
    assert_one_line_error(run("plot", run_dir, "--out", out, "--force"), 1, "no finished epoch")


def test_readers_read_the_checkpoint_they_opened(run_dir, tmp_path, monkeypatch):
    """A checkpoint replaced (renamed over) while it is read: the reader gets the file it opened."""
    best = run_dir / "checkpoints" / "best.npz"
    other = tmp_path / "other.npz"
    other.write_text("not a checkpoint: training replaced best.npz with it")
    real_open = nnctl.io.checkpoint.open_regular

    def open_then_replace(path, *args, **kwargs):
        f = real_open(path, *args, **kwargs)
        os.replace(other, path)
        return f

    monkeypatch.setattr(nnctl.io.checkpoint, "open_regular", open_then_replace)
    network, meta = load_checkpoint(best)
    assert network.sizes == [784, 8, 10] and meta["epoch"] in (1, 2)


# --------------------------------------------------------------------------- 9. empty layers


@pytest.mark.parametrize("shapes", [((0, 784), (10, 0)), ((8, 784), (0, 8))],
                         ids=["no-hidden-units", "no-output-units"])
def test_layers_without_units_are_refused(run, run_dir, digits, tmp_path, shapes):
    members = checkpoint_members(run_dir / "checkpoints" / "best.npz")
    meta = json.loads(np.load(run_dir / "checkpoints" / "best.npz")["metadata"].tobytes())
    for layer, shape in enumerate(shapes, start=1):
        for kind, array in (("weight", np.zeros(shape, np.float32)),
                            ("bias", np.zeros(shape[0], np.float32))):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array)
            members[f"layers.{layer}.{kind}.npy"] = buffer.getvalue()
    meta["sizes"] = [784, shapes[0][0], shapes[1][0]]
    path = rezip(tmp_path / "empty.npz", members)
    path = with_metadata(path, path, json.dumps(meta).encode())
    image = digit_png(digits[0], tmp_path / "d.png")
    for args in (("evaluate", path), ("predict", path, image),
                 ("inspect-weights", path, "--out", tmp_path / "figures")):
        assert_one_line_error(run(*args), 1, str(path), "at least one unit")


# --------------------------------------------------------------------------- 10. a config given


def test_evaluate_given_a_config_says_so(run, tmp_path):
    config = tmp_path / "x.yaml"
    config.write_text("model: {hidden: [100]}\n")
    disguised = tmp_path / "x.npz"
    disguised.write_text("# my experiment\ntraining:\n  epochs: 3\n")
    for path in (config, disguised):
        for command in ("evaluate", "inspect-weights"):
            assert_one_line_error(run(command, path), 2, str(path), "YAML config",
                                  "a run directory or a .npz checkpoint")


# --------------------------------------------------------------------------- 11. directories


def test_a_directory_of_no_images_is_one_line(run, trained, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text("my digits are elsewhere")
    assert_one_line_error(run("predict", trained, folder), 1, "no image files", "skipped 1 file",
                          "notes.txt")
    named = run("predict", trained, folder / "notes.txt")  # named explicitly: an error
    assert named.exit_code == 1 and "not an image Pillow can read" in named.stderr


# --------------------------------------------------------------------------- inspect-weights


def test_inspect_weights_reads_epochs_in_order_and_refuses_a_mixed_run(run, run_dir, tmp_path):
    checkpoints = run_dir / "checkpoints"
    for epoch in (3, 1000):  # epoch-1000 sorts before epoch-999 as text
        shutil.copy(checkpoints / "epoch-002.npz", checkpoints / f"epoch-{epoch:03d}.npz")
    (checkpoints / ".epoch-1001.npz.123.tmp").write_bytes(b"being written")
    drawn = run("inspect-weights", run_dir, "--out", tmp_path / "f")
    assert drawn.exit_code == 0, drawn.stderr
    with Image.open(tmp_path / "f" / "weights-by-epoch.gif") as gif:
        assert gif.n_frames == 5
        gif.seek(4)
        assert gif.info["duration"] == 600

    network, meta = load_checkpoint(checkpoints / "epoch-003.npz")
    narrower = Network([network.weights[0][:4], network.weights[1][:, :4]],
                       [network.biases[0][:4], network.biases[1]], network.activation,
                       network.output)
    save_checkpoint(checkpoints / "epoch-003.npz", narrower, meta)
    mixed = run("inspect-weights", run_dir, "--out", tmp_path / "h")
    assert_one_line_error(mixed, 1, "epoch-003.npz", "differ")
    assert not (tmp_path / "h").exists()


def test_inspect_weights_refuses_a_picture_too_large_to_draw(run, run_dir, tmp_path):
    _, meta = load_checkpoint(run_dir / "checkpoints" / "best.npz")
    rng = np.random.default_rng(0)
    wide = Network([rng.normal(size=(100, 784)).astype(np.float32),
                    rng.normal(size=(10, 100)).astype(np.float32)],
                   [np.zeros(100, np.float32), np.zeros(10, np.float32)], "sigmoid", "softmax")
    path = tmp_path / "wide.npz"  # 100 units of 1 x 784 pixels: 20 tiles of 25,088 px a row
    save_checkpoint(path, wide, dict(meta, image_shape=[1, 784]))
    refused = run("inspect-weights", path, "--out", tmp_path / "f", "--zoom", "32")
    assert_one_line_error(refused, 1, str(path), "too many to draw", "--zoom")
    assert not (tmp_path / "f").exists()
    assert run("inspect-weights", path, "--out", tmp_path / "f", "--zoom", "2").exit_code == 0


# --------------------------------------------------------------------------- more of each kind


def test_postscript_is_never_handed_to_ghostscript(run, trained, tmp_path):
    eps = tmp_path / "digit.eps"  # Pillow would run Ghostscript on it: a program, unbounded
    eps.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n{ } loop\n%%EOF\n")
    result = run("predict", trained, eps)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Error: {eps}: not an image Pillow can read"


def test_file_names_are_not_read_as_markup(run, trained, tmp_path):
    odd = Path(shutil.copytree(trained, tmp_path / "run[/bold]"))
    result = run("evaluate", odd)
    assert result.exit_code == 0, result.stderr
    assert "run[/bold]" in result.stdout  # shown as it is, not taken for a closing tag


def test_huge_values_in_checkpoint_metadata_stay_short(run, run_dir, tmp_path):
    best = run_dir / "checkpoints" / "best.npz"
    meta = json.loads(np.load(best)["metadata"].tobytes())
    for key, value in (("sizes", list(range(100_000))), ("image_shape", [2**62, 4]),
                       ("format_version", "v" * 500_000)):
        path = with_metadata(best, tmp_path / f"{key}.npz", json.dumps(dict(meta, **{key: value}))
                             .encode())
        result = run("evaluate", path)
        assert_one_line_error(result, 1, str(path), key.split("_")[0])
        assert len(result.stderr) < 400, result.stderr


def test_predict_refuses_a_network_of_images_too_large_to_prepare(run, run_dir, digits, tmp_path):
    _, meta = load_checkpoint(run_dir / "checkpoints" / "best.npz")
    side = 4097
    huge = Network([np.zeros((2, side * side), np.float16), np.zeros((10, 2), np.float16)],
                   [np.zeros(2, np.float16), np.zeros(10, np.float16)], "sigmoid", "softmax")
    path = tmp_path / "huge-images.npz"
    save_checkpoint(path, huge, dict(meta, image_shape=[side, side]))
    result = run("predict", path, digit_png(digits[0], tmp_path / "d.png"))
    assert_one_line_error(result, 1, str(path), "4097x4097 images")

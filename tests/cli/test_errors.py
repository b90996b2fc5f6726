"""Bad input at the command line: one line `Error: ...` naming the file, the documented exit status,
no traceback, and nothing that existed before is changed."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest
import yaml
from conftest import assert_one_line_error, snapshot, write_idx

import nnctl.io.atomic
from nnctl.io.checkpoint import load_checkpoint

# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("text,key", [
    ("model: [unclosed", "line 1"),
    ("- just\n- a list\n", "mapping"),
    ("trainig: {}\n", "did you mean 'training'"),
    ("training: {epochs: many}\n", "training.epochs"),
    ("training: {learning_rate: -1}\n", "training.learning_rate"),
    ("model: {hidden: [10]}\ntraining: {rule: perceptron}\n", "model.hidden"),
])
def test_config_errors(run, tmp_path, text, key):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = run("train", config, "--out", tmp_path / "run")
    assert_one_line_error(result, 2, str(config), key)
    assert not (tmp_path / "run").exists()


def test_bad_set_syntax(run, write_config, tmp_path):
    result = run("train", write_config({}), "--set", "nonsense", "--out", tmp_path / "run")
    assert_one_line_error(result, 2, "--set nonsense", "key=value")


# --------------------------------------------------------------------------- data


def idx_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    buffer.write(header + array.astype(np.uint8).tobytes())
    return buffer.getvalue()


def broken_images(kind: str, good: bytes) -> bytes:
    return {
        "not gzip": b"\x1f\x8b" + b"this is not deflate data",
        "wrong magic": b"\x12\x34" + good[2:],
        "truncated": good[: len(good) // 2],
        "overflowing header": bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**31, 2**31, 2**31),
        "empty": bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 0, 6, 6),
    }[kind]


@pytest.mark.parametrize("kind",
                         ["not gzip", "wrong magic", "truncated", "overflowing header", "empty"])
def test_malformed_training_images(run, write_config, tiny_dataset, tmp_path, kind):
    directory = tiny_dataset(shape=(6, 6))
    images = directory / "train-images-idx3-ubyte.gz"
    images.write_bytes(broken_images(kind, gzip.decompress(images.read_bytes())))
    if kind == "empty":
        write_idx(directory / "train-labels-idx1-ubyte.gz", np.zeros(0, np.uint8))
    config = write_config({"data": {"dir": str(directory), "limit": None, "validation": 0}})
    assert_one_line_error(run("train", config, "--out", tmp_path / "run"), 1,
                          str(images) if kind != "empty" else "empty")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("problem", ["missing", "count mismatch", "label out of range"])
def test_bad_labels(run, write_config, tiny_dataset, tmp_path, problem):
    directory = tiny_dataset(shape=(6, 6), classes=3)
    labels = directory / "t10k-labels-idx1-ubyte.gz"
    if problem == "missing":
        labels.unlink()
    elif problem == "count mismatch":
        write_idx(labels, np.zeros(7, np.uint8))
    else:
        write_idx(labels, np.full(100, 9, np.uint8))  # training has 3 classes
    config = write_config({"data": {"dir": str(directory), "limit": None, "validation": 0}})
    assert_one_line_error(run("train", config, "--out", tmp_path / "run"), 1, str(labels))
    assert not (tmp_path / "run").exists()


def test_evaluate_refuses_images_of_another_shape(run, write_config, tiny_dataset, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 0}})
    assert run("train", config, "--out", tmp_path / "run", "--quiet").exit_code == 0
    other = tiny_dataset(shape=(6, 6))
    assert_one_line_error(run("evaluate", tmp_path / "run", "--data-dir", other), 1, "6x6", "28x28")


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture
def checkpoint_file(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": [4]}, "training": {"epochs": 0}})
    assert run("train", config, "--out", tmp_path / "run", "--quiet").exit_code == 0
    return tmp_path / "run" / "checkpoints" / "last.npz"


def rewrite_npz(path, change) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    original = arrays["metadata"]
    meta = json.loads(original.tobytes())
    change(arrays, meta)
    if arrays.get("metadata") is original:  # the change was to the metadata's content
        arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)


CHECKPOINT_DAMAGE = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:200]),
    "not an npz": lambda p: p.write_text("hello"),
    "object array": lambda p: np.savez(p, metadata=np.array([{"a": 1}], dtype=object)),
    "missing layer": lambda p: rewrite_npz(p, lambda a, m: a.pop("layers.2.weight")),
    "extra layer": lambda p: rewrite_npz(
        p, lambda a, m: a.update({"layers.3.weight": np.zeros((2, 10))})),
    "shape mismatch": lambda p: rewrite_npz(
        p, lambda a, m: a.update({"layers.2.weight": np.zeros((10, 5), np.float32)})),
    "unknown version": lambda p: rewrite_npz(p, lambda a, m: m.update(format_version=99)),
    "metadata not JSON": lambda p: rewrite_npz(
        p, lambda a, m: a.update(metadata=np.frombuffer(b"{oops", np.uint8))),
}


@pytest.mark.parametrize("damage", sorted(CHECKPOINT_DAMAGE))
def test_damaged_checkpoints(run, checkpoint_file, damage):
    CHECKPOINT_DAMAGE[damage](checkpoint_file)
    assert_one_line_error(run("evaluate", checkpoint_file), 1, str(checkpoint_file))
    assert_one_line_error(run("inspect-weights", checkpoint_file, "--out",
                              checkpoint_file.parent / "f"), 1)


def test_missing_checkpoint(run, tmp_path):
    assert_one_line_error(run("evaluate", tmp_path / "nope.npz"), 1, "nope.npz")


# --------------------------------------------------------------------------- output


def test_out_is_not_a_run_and_not_empty(run, write_config, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    before = snapshot(out)
    assert_one_line_error(run("train", write_config({}), "--out", out), 1, "--force")
    assert snapshot(out) == before


def test_out_already_a_run_suggests_resume(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 0}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    before = snapshot(out)
    assert_one_line_error(run("train", config, "--out", out), 1, f"--resume {out}")
    assert snapshot(out) == before


def test_out_not_writable(run, write_config, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_one_line_error(run("train", write_config({}), "--out", blocker / "run"), 1, str(blocker))


def test_figures_into_a_file_are_one_line_errors(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_one_line_error(run("inspect-weights", out, "--out", blocker / "figs"), 1, str(blocker))
    assert_one_line_error(run("plot", out, "--out", blocker / "curves.png"), 1, str(blocker))
    assert_one_line_error(run("evaluate", out, "--figure", blocker / "c.png"), 1, str(blocker))


def test_disk_full_keeps_the_previous_checkpoint(run, write_config, tmp_path, monkeypatch):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    before = snapshot(out / "checkpoints")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(nnctl.io.atomic.os, "fsync", full)
    result = run("train", "--resume", out, "--set", "training.epochs=2", "--quiet")
    assert_one_line_error(result, 1, "No space left on device")
    monkeypatch.undo()
    assert snapshot(out / "checkpoints") == before  # every checkpoint as it was, no temporary file
    assert load_checkpoint(out / "checkpoints" / "last.npz")[1]["epoch"] == 1


def test_debug_shows_the_traceback(run, tmp_path):
    from click.testing import CliRunner

    from nnctl.cli import cli

    result = CliRunner().invoke(cli, ["--debug", "evaluate", str(tmp_path / "nope.npz")])
    assert result.exception is not None and type(result.exception).__name__ == "CheckpointError"


def test_checkpoint_written_by_zipfile_with_a_directory_entry_is_refused(run, tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dir/", b"")
    assert_one_line_error(run("evaluate", path), 1, str(path))


def test_config_yaml_of_a_run_is_plain_yaml(write_config, run, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 0}})
    assert run("train", config, "--out", tmp_path / "run", "--quiet").exit_code == 0
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["training"]["epochs"] == 0


def _group_whose_command_loses_the_interrupt(interrupt: bool):
    """A command group like nnctl's whose one command, on a SIGINT, raises an ImportError with no
    trace of the KeyboardInterrupt, as numpy's compiled modules do when interrupted mid-import."""
    import os
    import signal
    import time

    import click

    @click.command()
    def load():
        interrupted = False
        try:
            if interrupt:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # Python's handler raises KeyboardInterrupt here
        except KeyboardInterrupt:
            interrupted = True
        raise ImportError("numpy._core.multiarray failed to import" if interrupted else "other")

    return _group_of(load)


def _group_of(command):
    """A command group like nnctl's with this one command."""
    from nnctl.cli import NnctlGroup

    class Group(NnctlGroup):
        def list_commands(self, ctx):
            return [command.name]

        def get_command(self, ctx, name):
            return command if name == command.name else None

    return Group(name="nnctl")


def _nnctl_signals():
    """main(signals=...) as the entry point gives them: Python's SIGINT handler while the
    command runs, the one before restored after."""
    import signal

    previous = signal.getsignal(signal.SIGINT)
    return (lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
            lambda: signal.signal(signal.SIGINT, previous)), previous


@pytest.mark.parametrize("interrupt", [True, False])
def test_an_error_a_sigint_turned_into_another_is_the_interrupt(interrupt, capsys):
    import signal

    signals, previous = _nnctl_signals()
    group = _group_whose_command_loses_the_interrupt(interrupt)
    try:
        if interrupt:  # one line and 130, as for any Ctrl-C in a command
            with pytest.raises(SystemExit) as exited:
                group.main(["load"], obj={"signals": signals})
            assert exited.value.code == 130
            assert capsys.readouterr().err == "interrupted\n"
        else:  # without a signal an unexpected error is not taken for one
            with pytest.raises(ImportError, match="other"):
                group.main(["load"], obj={"signals": signals})
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_sigint_lost_in_a_callback_is_delivered_again(capsys):
    # Python drops an exception raised in a weakref callback (the import system's, say) with an
    # "Exception ignored in ..." traceback: a SIGINT whose handler ran there would be lost
    import signal
    import sys
    import time
    import weakref

    import click

    @click.command()
    def work():
        class Thing:
            pass

        thing = Thing()
        ref = weakref.ref(thing, lambda ref: (_ for _ in ()).throw(KeyboardInterrupt))
        del thing  # the callback's KeyboardInterrupt cannot leave it
        time.sleep(5)  # the SIGINT, raised again, ends the command here
        click.echo("finished", err=True)
        assert ref() is None

    signals, previous = _nnctl_signals()
    hook = sys.unraisablehook
    try:
        with pytest.raises(SystemExit) as exited:
            _group_of(work).main(["work"], obj={"signals": signals})
        assert exited.value.code == 130
        assert capsys.readouterr().err == "interrupted\n"  # no "Exception ignored", no traceback
        assert sys.unraisablehook is hook  # only while the command runs
    finally:
        signal.signal(signal.SIGINT, previous)

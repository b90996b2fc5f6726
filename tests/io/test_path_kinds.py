"""nnctl.io.path_kinds: each kind recognised from little, safely; the hint; expect."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from kinds import PNG, make_kinds

from nnctl.errors import WrongKindError
from nnctl.io import path_kinds as k


def test_every_kind_is_recognised(tmp_path):
    for kind, path in make_kinds(tmp_path).items():
        assert k.kind_of(path) == kind, path


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("x.npz", b"# my experiment\ntraining:\n  epochs: 3\n", k.CONFIG),  # a config, misnamed
    ("x.txt", b"model:\n  hidden: [10]\n", k.CONFIG),
    ("empty.yaml", b"", k.CONFIG),
    ("s.txt", b"# sweep\nparameters:\n  training.learning_rate: [0.1]\n", k.SWEEP_FILE),
    ("notes.md", b"Note: model is a word here\n", k.OTHER_FILE),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(20), k.IMAGE),
    ("raw", bytes([0, 0, 8, 3, 0, 0, 0, 1]), k.IDX_FILE),
    ("blob.bin", bytes(range(256)) * 4, k.OTHER_FILE),
    ("old.npz", b"PK\x05\x06" + bytes(18), k.CHECKPOINT),
])
def test_files_by_their_first_bytes(tmp_path, name, content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    assert k.kind_of(path) == kind


def test_unrecognised_paths_are_left_to_the_reader(tmp_path):
    (tmp_path / "empty").mkdir()
    assert k.kind_of(tmp_path / "missing") == k.MISSING
    assert k.kind_of(tmp_path / "empty") == k.OTHER_DIR
    assert k.expect(tmp_path / "missing", (k.CONFIG,)) == k.MISSING
    assert k.expect(tmp_path / "empty", (k.CONFIG,)) == k.OTHER_DIR


def test_a_run_of_an_older_nnctl_has_no_marker(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "config.yaml").write_text("model: {}\n")
    assert k.kind_of(tmp_path) == k.RUN


def test_a_fifo_is_not_opened_for_a_blocking_read(tmp_path):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    found = []
    worker = threading.Thread(target=lambda: found.append(k.kind_of(fifo)), daemon=True)
    worker.start()
    worker.join(30)
    assert found == [k.OTHER_FILE]


def test_only_the_head_of_a_large_file_is_read(tmp_path, monkeypatch):
    big = tmp_path / "big.png"
    big.write_bytes(PNG + bytes(8 << 20))
    reads = []
    real_open = k.open_regular

    def counting(*args, **kwargs):
        f = real_open(*args, **kwargs)
        real_read = f.read
        f.read = lambda n=-1: reads.append(n) or real_read(n)
        return f

    monkeypatch.setattr(k, "open_regular", counting)
    assert k.kind_of(big) == k.IMAGE
    assert reads == [k.HEAD_BYTES]


def test_a_sweep_file_is_known_by_the_keys_the_sweep_reader_takes():
    from nnctl.sweep.spec import TOP_KEYS

    assert TOP_KEYS == k.SWEEP_KEYS


def test_expect_says_what_it_is_and_what_to_do(tmp_path):
    paths = make_kinds(tmp_path)
    with pytest.raises(WrongKindError) as raised:
        k.expect(paths[k.RUN], (k.CONFIG,), "train")
    assert str(raised.value) == (f"{paths[k.RUN]}: is a run directory, not a YAML config; "
                                 f"continue it: nnctl train --resume {paths[k.RUN]}")
    assert raised.value.exit_code == 2
    assert k.expect(paths[k.RUN], (k.RUN, k.CHECKPOINT)) == k.RUN


def test_the_hint_quotes_a_path_as_a_shell_needs_it(tmp_path):
    path = Path(tmp_path / "my runs" / "a")
    assert k.hint(path, k.SWEEP_FILE) == f"run the sweep: nnctl sweep '{path}'"

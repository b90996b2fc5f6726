"""markers.locked_marker: one process at a time, its record written, every refusal a RunDirError
in the caller's words (never an OSError)."""

from __future__ import annotations

import errno
import json
import os

import pytest

import nnctl.io.markers
from nnctl.errors import RunDirError
from nnctl.io.markers import holder_pid, locked_marker

WORDS = {"cannot_open": lambda e: f"cannot: {e.strerror}", "not_regular": "not regular",
         "busy": lambda fd: f"busy: {holder_pid(fd)}"}


def hold(marker, record: dict) -> None:
    with locked_marker(marker, record, **WORDS):
        pass


def test_the_holder_writes_its_record_and_a_second_holder_is_refused_with_its_pid(tmp_path):
    marker = tmp_path / ".marker"
    with locked_marker(marker, {"pid": os.getpid(), "x": 1}, **WORDS):
        assert json.loads(marker.read_text()) == {"pid": os.getpid(), "x": 1}
        with pytest.raises(RunDirError, match=f"busy: {os.getpid()}"):
            hold(marker, {"pid": 0})
    with locked_marker(marker, {"pid": 7}, **WORDS):  # released at the end of the block
        assert json.loads(marker.read_text()) == {"pid": 7}


def test_a_fifo_or_a_symlink_is_not_a_marker(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(RunDirError, match="not regular"):
        hold(tmp_path / "fifo", {})
    (tmp_path / "target").write_text("someone's file")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(RunDirError, match="link: is a symbolic link, not the file nnctl made"):
        hold(tmp_path / "link", {})
    assert (tmp_path / "target").read_text() == "someone's file"


def test_a_full_disk_while_writing_the_record_is_a_refusal_not_a_traceback(tmp_path,
                                                                          monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(nnctl.io.markers.os, "pwrite", full)
    with pytest.raises(RunDirError, match="cannot: No space left on device"):
        hold(tmp_path / ".marker", {"pid": 1})

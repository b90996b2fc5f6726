"""marked_dirs: the one mechanism of run, sweep and tour directories. A directory that holds
something and has no marker is refused; claiming takes the marker's lock, writes its record,
checks the directory's own entries and removes stale temporaries; a refusal names the holder."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnctl.errors import RunDirError
from nnctl.io.marked_dirs import (
    MarkedKind,
    lock_marked,
    new_numbered,
    process_name,
    refuse_foreign,
    writer_pid,
)

MARKER = ".nnctl-test"
CHECKED: list[Path] = []  # the directories whose entries KIND checked


def refuse_a_link(directory: Path) -> None:
    CHECKED.append(directory)
    if (directory / "own").is_symlink():
        raise RunDirError(f"{directory / 'own'}: is a symbolic link")


KIND = MarkedKind(
    marker=MARKER, record={"nnctl_test": 1}, check_entries=refuse_a_link,
    cannot_open=lambda directory, e: f"{directory}: cannot: {e.strerror}",
    not_regular=lambda directory: f"{directory}: not regular",
    busy=lambda directory, pid: f"{directory}: busy ({process_name(pid)})",
    temporaries=("", "sub"))


def claim(directory: Path) -> None:
    with lock_marked(directory, KIND):
        pass


def foreign(directory: Path) -> str:
    return f"{directory}: not ours"


def test_a_directory_that_holds_something_without_the_marker_is_refused(tmp_path):
    refuse_foreign(tmp_path, MARKER, foreign)  # empty: may be claimed
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=f"^{tmp_path}: not ours$"):
        refuse_foreign(tmp_path, MARKER, foreign)
    (tmp_path / MARKER).write_text("")
    refuse_foreign(tmp_path, MARKER, foreign)  # marked: ours
    with pytest.raises(RunDirError, match="missing: cannot read the directory"):
        refuse_foreign(tmp_path / "missing", MARKER, foreign)


def test_the_holder_writes_its_record_and_a_second_claim_names_it(tmp_path):
    CHECKED.clear()
    assert writer_pid(tmp_path, MARKER) is None
    with lock_marked(tmp_path, KIND, token="t") as locked:
        assert locked == tmp_path and CHECKED == [tmp_path]
        record = json.loads((tmp_path / MARKER).read_text())
        assert record == {"nnctl_test": 1, "token": "t", "pid": os.getpid()}
        assert writer_pid(tmp_path, MARKER) == os.getpid()
        with pytest.raises(RunDirError, match=rf"busy \(process {os.getpid()}\)"):
            claim(tmp_path)
    assert writer_pid(tmp_path, MARKER) is None
    claim(tmp_path)  # released at the end of the block


def test_own_entries_are_checked_and_stale_temporaries_removed_once_locked(tmp_path):
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    (tmp_path / "sub").mkdir()
    stale = [directory / f".x.nnctl-{dead}.k2j3x9_a.tmp" for directory in (tmp_path,
                                                                             tmp_path / "sub")]
    for path in stale:
        path.write_bytes(b"partial")
    with lock_marked(tmp_path, KIND):
        assert not any(path.exists() for path in stale)
    (tmp_path / "elsewhere").write_text("mine")
    (tmp_path / "own").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunDirError, match="own: is a symbolic link"):
        claim(tmp_path)


def test_the_words_of_each_refusal_are_the_kinds(tmp_path):
    os.mkfifo(tmp_path / MARKER)
    with pytest.raises(RunDirError, match=f"^{tmp_path}: not regular$"):
        claim(tmp_path)
    with pytest.raises(RunDirError, match="missing: cannot: No such file or directory"):
        claim(tmp_path / "missing")


@pytest.mark.slow
def test_a_holder_that_has_not_written_its_pid_is_another_process(tmp_path):
    fd = os.open(tmp_path / MARKER, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # locked, no pid written: as a writer just starting
        assert writer_pid(tmp_path, MARKER) == -1
        assert writer_pid(tmp_path, MARKER, wait=True) == -1
        with pytest.raises(RunDirError, match=r"busy \(another process\)"):
            claim(tmp_path)
    finally:
        os.close(fd)
    assert process_name(None) == process_name(-1) == "another process"
    assert process_name(42) == "process 42"


def test_new_numbered_takes_the_first_free_name(tmp_path):
    assert new_numbered(tmp_path / "runs" / "x") == tmp_path / "runs" / "x"
    assert new_numbered(tmp_path / "runs" / "x") == tmp_path / "runs" / "x-2"
    (tmp_path / "runs" / "x-3").write_text("a file takes the name too")
    assert new_numbered(tmp_path / "runs" / "x") == tmp_path / "runs" / "x-4"

"""Hostile inputs to `nnctl data info|verify|fetch|import-csv`: bounded time and memory, one line
`Error: ...`, the documented exit status, and never a write over what is not nnctl's own.

Every download comes from a local server on 127.0.0.1 or a file:// URL.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, cpu_timed, snapshot, write_idx
from datafiles import catalog_for, make_arrays, write_dataset
from mirrors import GZ_NAMES, serving

from nnctl.errors import ConfigError, DataError
from nnctl.io.datasets import fetch, import_csv
from nnctl.io.examples import BUNDLED_DIR, STANDARD_NAMES

BUNDLED = {key: (BUNDLED_DIR / name).read_bytes() for key, name in GZ_NAMES.items()}
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def hostile():
    with serving() as server:
        yield server


@pytest.fixture
def tiny(tmp_path):
    files = write_dataset(tmp_path / "source", make_arrays(n_train=40, n_test=10, shape=(4, 4)))
    return files, catalog_for(files)


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def peak_memory(action) -> int:
    """The peak of Python and numpy allocations while `action()` runs, in bytes."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def rescued_fifo(path: Path, after: float = 3.0) -> threading.Event:
    """A FIFO at `path`; should a reader block on it, a writer comes after `after` seconds and
    closes at once (the reader sees an empty file), so a test that would hang fails instead. The
    event returned is set when that rescue was needed: a reader was waiting."""
    os.mkfifo(path)
    rescued = threading.Event()

    def rescue() -> None:
        end = time.monotonic() + after + 30
        time.sleep(after)
        while time.monotonic() < end:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # only works with a reader
                rescued.set()
                return
            except OSError:
                time.sleep(0.1)

    threading.Thread(target=rescue, daemon=True).start()
    return rescued


def timed(action):
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start


# --------------------------------------------------------------------------------------------
# 1. fetch never writes over a file that is not its own


def test_fetch_refuses_a_users_file_unless_force(run, tmp_path):
    to = tmp_path / "data"
    to.mkdir()
    mine = to / GZ_NAMES["test_labels"]
    mine.write_bytes(b"my own labels, not MNIST's")
    before = snapshot(to)
    result = run("data", "fetch", "mnist", "--to", to, "--mirror", BUNDLED_DIR.as_uri())
    assert_one_line_error(result, 1, str(mine), "already exists", "--force")
    assert snapshot(to) == before  # nothing downloaded either: refused before the first file
    forced = run("data", "fetch", "mnist", "--to", to, "--mirror", BUNDLED_DIR.as_uri(), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert mine.read_bytes() == BUNDLED["test_labels"]
    assert listing(to) == sorted(GZ_NAMES.values())


def test_fetch_keeps_a_file_with_the_published_sum_and_says_so(run, tmp_path, hostile):
    to = tmp_path / "data"
    to.mkdir()
    (to / GZ_NAMES["train_images"]).write_bytes(BUNDLED["train_images"])
    base = hostile.serve("m", BUNDLED)
    result = run("data", "fetch", "mnist", "--to", to, "--mirror", base)
    assert result.exit_code == 0, result.stderr
    assert f"{to / GZ_NAMES['train_images']}: already there" in result.stderr
    assert "/m/" + GZ_NAMES["train_images"] not in hostile.requests and len(hostile.requests) == 3
    assert result.stdout.split() == [str(to / name) for name in GZ_NAMES.values()]


def test_fetch_refuses_a_directory_under_a_standard_name_even_with_force(run, tmp_path):
    to = tmp_path / "data"
    (to / GZ_NAMES["train_labels"]).mkdir(parents=True)
    (to / GZ_NAMES["train_labels"] / "keep.txt").write_text("mine")
    before = snapshot(to)
    for extra in ((), ("--force",)):
        result = run("data", "fetch", "mnist", "--to", to, "--mirror", BUNDLED_DIR.as_uri(), *extra)
        assert_one_line_error(result, 1, GZ_NAMES["train_labels"], "is a directory")
        assert snapshot(to) == before


def test_fetch_of_an_archive_refuses_a_users_zip_of_that_name(tmp_path, tiny, hostile):
    from datafiles import emnist_like

    files, _ = tiny
    archive, catalog = emnist_like(files)
    hostile.routes["/z/gzip.zip"] = ("ok", archive)
    to = tmp_path / "out"
    to.mkdir()
    (to / "gzip.zip").write_bytes(b"my own zip")
    with pytest.raises(DataError, match=r"gzip\.zip: already exists .* pass --force"):
        fetch("emnist-like", to, mirrors=[f"{hostile.base}/z/"], catalog=catalog, timeout=5)
    assert listing(to) == ["gzip.zip"] and (to / "gzip.zip").read_bytes() == b"my own zip"
    assert hostile.requests == []
    # the right archive already there is used, and kept (fetch did not write it)
    (to / "gzip.zip").write_bytes(archive)
    kept = []
    fetch("emnist-like", to, mirrors=[f"{hostile.base}/z/"], catalog=catalog, on_kept=kept.append)
    assert hostile.requests == [] and kept == [to / "gzip.zip"]
    assert listing(to) == sorted([*GZ_NAMES.values(), "gzip.zip"])


# --------------------------------------------------------------------------------------------
# 2. a deadline per file: a trickling mirror ends, with no partial file


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["trickle", "trickle_headers", "stall", "stall_body"])
def test_fetch_gives_up_a_trickling_mirror_at_the_deadline(tmp_path, tiny, hostile, kind):
    files, catalog = tiny
    out = tmp_path / "out"
    slow = hostile.serve("slow", files, kind)
    with pytest.raises(DataError) as raised:
        fetch("tiny", out, mirrors=[slow], catalog=catalog, timeout=5, deadline=0.4)
    message = str(raised.value)
    assert "\n" not in message and "deadline of 0.4 s" in message, message
    assert listing(out) == []  # no partial file, no temporary file
    assert len(hostile.gave_up("slow", 1)) == 1  # the first file failed: nothing more was asked
    # with a good mirror after it, the next one is tried at the deadline
    paths, elapsed = timed(lambda: fetch("tiny", out, catalog=catalog, timeout=5, deadline=0.4,
                                         mirrors=[slow, hostile.serve("good", files)]))
    assert elapsed >= 4 * 0.4  # each file waited one deadline, then the client hung up on it:
    assert len(hostile.gave_up("slow", 4)) == 4  # the trickle itself would have taken longer
    assert [p.read_bytes() for p in paths] == list(files.values())


def test_fetch_trickling_at_the_command_line(run, tmp_path, hostile):
    to = tmp_path / "data"
    base = hostile.serve("slow", BUNDLED, "trickle")
    result = run("data", "fetch", "mnist", "--to", to, "--mirror", base, "--deadline", "0.5",
                 "--timeout", "5")
    assert_one_line_error(result, 1, GZ_NAMES["train_images"], "deadline of 0.5 s")
    assert hostile.gave_up("slow", 1) == [f"/slow/{GZ_NAMES['train_images']}"]
    assert listing(to) == []


def test_fetch_default_deadline_is_finite_and_grows_with_the_size():
    from nnctl.io.datasets.download import DEADLINE, Limits

    assert Limits().seconds_for(None) == DEADLINE
    assert DEADLINE < Limits().seconds_for(562_000_000) < 10 * 3600  # EMNIST's archive
    assert Limits(deadline=2).seconds_for(562_000_000) == 2


@pytest.mark.parametrize("option, value", [("--timeout", "nan"), ("--timeout", "inf"),
                                           ("--timeout", "0"),
                                           ("--deadline", "0"), ("--deadline", "-1"),
                                           ("--deadline", "nan"), ("--deadline", "1e300")])
def test_fetch_refuses_nonsense_durations(run, tmp_path, option, value):
    result = run("data", "fetch", "mnist", "--to", tmp_path / "d", "--mirror",
                 BUNDLED_DIR.as_uri(), option, value)
    assert_one_line_error(result, 2, "seconds")
    assert not (tmp_path / "d").exists()


def test_fetch_endless_body_of_unknown_size_is_bounded(tmp_path, tiny, monkeypatch):
    """A mirror that never stops sending a file with no published size: the byte limit ends it."""
    from nnctl.io.datasets import download

    _, catalog = tiny
    monkeypatch.setattr(download, "MAX_UNSIZED", 1 << 20)
    source = tmp_path / "endless"
    source.mkdir()
    for name in GZ_NAMES.values():  # a symlink to /dev/zero is refused unopened...
        (source / name).symlink_to("/dev/zero")
    with pytest.raises(DataError, match="not a regular file"):
        fetch("tiny", tmp_path / "out", mirrors=[source.as_uri()], catalog=catalog)
    for name in GZ_NAMES.values():  # ...and a big file beyond the limit is given up
        (source / name).unlink()
        with open(source / name, "wb") as f:
            f.truncate(8 << 20)
    with pytest.raises(DataError, match="more than the limit"):
        fetch("tiny", tmp_path / "out", mirrors=[source.as_uri()], catalog=catalog)
    assert listing(tmp_path / "out") == []


def test_fetch_from_a_fifo_mirror_does_not_hang(tmp_path, tiny):
    _, catalog = tiny
    source = tmp_path / "fifo"
    source.mkdir()
    rescued = rescued_fifo(source / GZ_NAMES["train_images"])
    with pytest.raises(DataError, match="FIFO") as raised:
        fetch("tiny", tmp_path / "out", mirrors=[source.as_uri()], catalog=catalog)
    assert "\n" not in str(raised.value)
    assert not rescued.is_set()  # never waited for a writer


# --------------------------------------------------------------------------------------------
# 3. temporary files of a killed fetch or import are removed, those of live writers kept


def test_stale_temporaries_of_dead_writers_are_removed(run, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        to = tmp_path / "data"
        to.mkdir()
        stale = to / f".{GZ_NAMES['train_images']}.nnctl-{dead.pid}.k2j4abcd.tmp"
        live = to / f".{GZ_NAMES['train_images']}.nnctl-{alive.pid}.x9q1abcd.tmp"
        for path in (stale, live):
            path.write_bytes(b"partial")
        result = run("data", "fetch", "mnist", "--to", to, "--mirror", BUNDLED_DIR.as_uri())
        assert result.exit_code == 0, result.stderr
        assert not stale.exists() and live.read_bytes() == b"partial"
        csv = tmp_path / "d.csv"
        csv.write_text("1,0,0,0,0\n")
        stale.write_bytes(b"partial")
        result = run("data", "import-csv", csv, "--to", to, "--force")
        assert result.exit_code == 0, result.stderr
        assert not stale.exists() and live.exists()
    finally:
        alive.kill()
        alive.wait()


def test_a_killed_fetch_leaves_a_temporary_that_the_next_fetch_removes(tmp_path, hostile):
    to = tmp_path / "data"
    slow = hostile.serve("slow", BUNDLED, "trickle")
    process = subprocess.Popen(
        [sys.executable, "-m", "nnctl", "data", "fetch", "mnist", "--to", str(to), "--mirror",
         slow], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 20
        while not any(to.glob(".*.tmp")) and time.monotonic() < end:
            time.sleep(0.05)
        assert any(to.glob(".*.tmp")), "the fetch never started its download"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    (left,) = to.iterdir()
    assert left.name.startswith(f".{GZ_NAMES['train_images']}.nnctl-{process.pid}.")
    fetch("mnist", to, mirrors=[BUNDLED_DIR.as_uri()])
    assert listing(to) == sorted(GZ_NAMES.values())  # the killed fetch's .tmp is gone


# --------------------------------------------------------------------------------------------
# 4. mirror URLs are checked up front: a usage error


@pytest.mark.parametrize("url, words", [
    ("", ["empty"]),
    ("   ", ["empty"]),
    ("http://[::1", ["not a valid URL"]),
    ("http://[::1]:99999/", ["not a valid URL"]),
    ("http://host:port/", ["not a valid URL"]),
    ("ftp://example.org/mnist/", ["http://, https:// or file://"]),
    ("data/mnist", ["http://, https:// or file://"]),
    ("http:///mnist/", ["no host name"]),
    ("file://otherhost/mnist/", ["local directory"]),
    ("http://127.0.0.1/a b/", ["spaces or control characters"]),
    ("http://127.0.0.1/\nx", ["spaces or control characters"]),
])
def test_bad_mirror_urls_are_one_line_usage_errors(run, tmp_path, url, words):
    to = tmp_path / "d"
    result = run("data", "fetch", "mnist", "--to", to, "--mirror", BUNDLED_DIR.as_uri(),
                 "--mirror", url)
    assert_one_line_error(result, 2, "mirror", *words)
    assert not to.exists()  # nothing created


def test_check_mirror_accepts_the_catalogs_and_local_urls():
    from nnctl.io.datasets.catalog import KNOWN
    from nnctl.io.datasets.download import check_mirror

    for entry in KNOWN.values():
        for url in entry["mirrors"]:
            assert check_mirror(url) == url
    for url in ("http://127.0.0.1:8000/x/", "https://[::1]/", "file:///tmp/x/",
                "file://localhost/tmp/x/"):
        assert check_mirror(url) == url
    with pytest.raises(ConfigError):
        check_mirror("gopher://x/")


# --------------------------------------------------------------------------------------------
# 5. import-csv: hostile CSV files


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("content, words", [
    ("1,0,0,0,0\n2,0," + "9" * 5000 + ",0,0\n", ["line 2, column 3", "outside 0..255"]),
    ("1,0,0,0,0\n" + "7" * 5000 + ",0,0,0,0\n", ["line 2", "not a class index"]),
    ("1,0,0,0,0\n-" + "7" * 5000 + ",0,0,0,0\n", ["line 2", "is negative"]),
    ("abc,0,0,0,0\n1,0,0,0,0\n", ["line 1", "label 'abc' is not an integer"]),
    ("1000,0,0,0,0\n", ["line 1", "label 1000 is not a class index"]),
    ("1,0,0,0,256\n", ["line 1, column 5", "256 is outside 0..255"]),
    ("1,0,0,0,-1\n", ["line 1, column 5", "-1 is outside 0..255"]),
    ("1,0,0,0,0\n1,0,0,0\n", ["line 2", "4 columns, expected 5"]),
    ("", ["empty file"]),
    ("\n\n\n", ["empty file"]),
    ("\ufeff", ["empty file"]),
    (b"1,0,0,0,0\n1,0,\xff\xfe,0,0\n", ["line 2", "not UTF-8", "0xff"]),
    (gzip.compress(b"1,0,0,0,0\n"), ["gzip-compressed"]),
    (b"\x00" * 50 + b",1,2\n", ["line 1", "is not an integer"]),
], ids=["5000-digit pixel", "5000-digit label", "5000-digit negative label", "word label",
        "label 1000", "pixel 256", "pixel -1", "ragged", "0 bytes", "blank lines", "BOM only",
        "not UTF-8", "gzipped", "NUL bytes"])
def test_import_csv_bad_content(run, tmp_path, content, words):
    path = write(tmp_path / "bad.csv", content)
    to = tmp_path / "out"
    result = run("data", "import-csv", path, "--to", to)
    assert_one_line_error(result, 1, str(path), *words)
    assert len(result.stderr) < 400  # a 5,000-digit cell is not repeated whole
    assert not to.exists()


def test_import_csv_first_row_is_a_header_only_if_it_looks_like_one(tmp_path):
    rows = "1,0,0,0,0\n2,255,255,255,255\n"
    for header in ("label,pixel0,pixel1,pixel2,pixel3", "Label,1,2,3,4", '"label","a","b","c","d"',
                   "class,1x1,1x2,2x1,2x2"):
        written = import_csv(write(tmp_path / "h.csv", f"{header}\n{rows}"), tmp_path / "o",
                             overwrite=True)
        assert len(gzip.decompress(written[1].read_bytes())) == 8 + 2, header  # both rows kept
    with pytest.raises(DataError, match="line 1: label 'x' is not an integer"):
        import_csv(write(tmp_path / "x.csv", f"x,0,0,0,0\n{rows}"), tmp_path / "o2")


def test_import_csv_a_huge_line_is_not_read_whole(run, tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as f:  # 1.6 GB on line 2, sparse: no disk used
        f.write(b"1,0,0,0,0\n")
        f.truncate(1_600_000_000)
    result = None

    def action() -> None:
        nonlocal result
        result = run("data", "import-csv", path, "--to", tmp_path / "out")

    peak, elapsed = cpu_timed(lambda: peak_memory(action))  # CPU seconds
    assert_one_line_error(result, 1, str(path), "line 2", "longer than")
    assert peak < 32 << 20 and elapsed < 5
    assert not (tmp_path / "out").exists()


def test_import_csv_reads_wide_files_in_bounded_blocks(tmp_path, monkeypatch):
    """Rows are parsed a few MB at a time, not a fixed count of rows whatever their width."""
    from nnctl.io.datasets import csv_import

    monkeypatch.setattr(csv_import, "CSV_BLOCK", 1 << 16)
    sizes = []
    original = csv_import._parse_rows
    monkeypatch.setattr(csv_import, "_parse_rows", lambda path, numbers, texts, columns: (
        sizes.append(sum(map(len, texts))) or original(path, numbers, texts, columns)))
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (200, 32 * 32))
    path = write(tmp_path / "wide.csv", "".join(",".join(map(str, [i % 10, *row])) + "\n"
                                                for i, row in enumerate(pixels)))
    written = import_csv(path, tmp_path / "out")
    assert max(sizes) < (1 << 16) + 5000 and len(sizes) > 10
    np.testing.assert_array_equal(
        np.frombuffer(gzip.decompress(written[0].read_bytes())[16:], np.uint8),
        pixels.reshape(-1))


def test_import_csv_from_a_fifo_does_not_hang(run, tmp_path):
    fifo = tmp_path / "pipe.csv"
    rescued = rescued_fifo(fifo)
    result = run("data", "import-csv", fifo, "--to", tmp_path / "out")
    assert_one_line_error(result, 1, str(fifo), "FIFO")
    assert not rescued.is_set()  # never waited for a writer


def test_import_csv_of_a_directory_or_a_missing_file(run, tmp_path):
    (tmp_path / "dir.csv").mkdir()
    assert_one_line_error(run("data", "import-csv", tmp_path / "dir.csv", "--to", tmp_path / "o"),
                          1, "dir.csv", "is a directory")
    assert_one_line_error(run("data", "import-csv", tmp_path / "no.csv", "--to", tmp_path / "o"),
                          1, "no.csv", "no such file")
    good = write(tmp_path / "good.csv", "1,0,0,0,0\n")
    assert_one_line_error(run("data", "import-csv", good, "--test", tmp_path / "dir.csv",
                              "--to", tmp_path / "o"), 1, "dir.csv", "is a directory")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("shape, words", [
    ("0x4", ["from 1 to"]),
    ("2x0", ["from 1 to"]),
    ("x".join(["1"] * 65), ["65 dimensions"]),
    ("x".join(["1"] * 16), ["16 dimensions", "at most 15"]),
    ("4294967296x1", ["too large", "at most 2,147,483,647"]),
    ("9" * 5000, ["too large", "at most 2,147,483,647"]),
    ("2x2x", ["expected sizes joined by x"]),
    ("-2x-2", ["expected sizes joined by x"]),
    ("two", ["expected sizes joined by x"]),
    ("", ["expected sizes joined by x"]),
])
def test_import_csv_bad_shapes_are_usage_errors(run, tmp_path, shape, words):
    path = write(tmp_path / "d.csv", "1,0,0,0,0\n")
    result, elapsed = cpu_timed(lambda: run("data", "import-csv", path, "--to", tmp_path / "o",
                                        "--shape", shape))
    assert_one_line_error(result, 2, "image shape", *words)
    assert len(result.stderr) < 300 and elapsed < 2
    assert not (tmp_path / "o").exists()


def test_import_csv_never_writes_over_what_is_not_its_own(run, tmp_path):
    path = write(tmp_path / "d.csv", "1,0,0,0,0\n")
    to = tmp_path / "out"
    to.mkdir()
    (to / GZ_NAMES["train_labels"]).write_bytes(b"mine")
    before = snapshot(to)
    result = run("data", "import-csv", path, "--to", to)
    assert_one_line_error(result, 1, GZ_NAMES["train_labels"], "already exists", "--force")
    assert snapshot(to) == before
    (to / GZ_NAMES["train_labels"]).unlink()
    (to / GZ_NAMES["train_labels"]).mkdir()
    before = snapshot(to)
    result = run("data", "import-csv", path, "--to", to, "--force")
    assert_one_line_error(result, 1, GZ_NAMES["train_labels"], "is a directory")
    assert snapshot(to) == before and listing(to) == [GZ_NAMES["train_labels"]]
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run("data", "import-csv", path, "--to", tmp_path / "file"), 1, "file")


def test_import_csv_pixels_beyond_what_the_reader_accepts(tmp_path, monkeypatch):
    from nnctl.io.datasets import csv_import

    monkeypatch.setattr(csv_import, "MAX_PAYLOAD", 100)
    monkeypatch.setattr(csv_import, "CSV_CHUNK", 10)
    path = write(tmp_path / "d.csv", "1,0,0,0,0\n" * 40)
    with pytest.raises(DataError, match="line 30: more than 100 bytes of pixels"):
        import_csv(path, tmp_path / "out")


# --------------------------------------------------------------------------------------------
# 6. output paths of the data commands


@pytest.fixture
def small(tmp_path) -> Path:
    """A small dataset directory (outside tmp_path's other files)."""
    directory = tmp_path / "small"
    write_dataset(directory, make_arrays(n_train=30, n_test=10, shape=(4, 4)))
    return directory


def test_info_figure_refuses_an_existing_file_unless_force(run, tmp_path, small):
    figure = tmp_path / "figures" / "mnist.png"
    figure.parent.mkdir()
    figure.write_bytes(b"my picture")
    before = snapshot(tmp_path)
    result = run("data", "info", small, "--figure", figure)
    assert_one_line_error(result, 1, str(figure), "already exists", "--force")
    assert snapshot(tmp_path) == before and result.stdout == ""
    result = run("data", "info", small, "--figure", figure, "--force")
    assert result.exit_code == 0, result.stderr
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert listing(figure.parent) == ["mnist.png"]


@pytest.mark.parametrize("make, words", [
    (lambda d: (d / "fig.png").mkdir(), ["fig.png", "is a directory"]),
    (lambda d: (d / "fig.png").parent.mkdir(exist_ok=True), []),
    (lambda d: (d / "notes.txt").write_text("x"), ["cannot write a figure", ".txt", ".svg"]),
])
def test_info_figure_path_errors_are_one_line(run, tmp_path, small, make, words):
    make(tmp_path)
    name = "notes.txt" if "cannot write a figure" in words else "fig.png"
    if not words:  # the figure's directory is a file
        (tmp_path / "file").write_text("x")
        name, words = "file/fig.png", ["file", "not a directory"]
    before = snapshot(tmp_path)
    for extra in ((), ("--force",)):
        result = run("data", "info", small, "--figure", tmp_path / name, *extra)
        assert_one_line_error(result, 2 if name == "notes.txt" else 1, *words)
        assert snapshot(tmp_path) == before


def test_data_commands_given_a_file_for_a_directory(run, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert_one_line_error(run("data", "info", plain), 1, str(plain), "not a directory")
    assert_one_line_error(run("data", "verify", plain), 1, str(plain), "not a directory")
    result = run("data", "fetch", "mnist", "--to", plain, "--mirror", BUNDLED_DIR.as_uri())
    assert_one_line_error(result, 1, str(plain), "not a directory")
    assert plain.read_text() == "x"


def test_info_json_and_figure_with_nan_and_infinite_pixels(run, tmp_path):
    """Non-finite pixels are bad data (the IDX reader refuses them): one line, no figure."""
    d = tmp_path / "d"
    d.mkdir()
    images = np.random.default_rng(0).random((6, 3, 3)).astype(np.float32)
    images[0, 0, 0], images[1, 1, 1], images[2, 2, 2] = np.nan, np.inf, -np.inf
    write_idx(d / GZ_NAMES["train_images"], images)
    write_idx(d / GZ_NAMES["train_labels"], np.array([0, 1, 1, 0, 1, 1], np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning would be a second line on stderr
        result = run("data", "info", d, "--json", "--figure", tmp_path / "f.png")
    assert_one_line_error(result, 1, GZ_NAMES["train_images"],
                          "image 0 holds a non-finite pixel (nan)")
    assert result.stdout == "" and not (tmp_path / "f.png").exists()


# --------------------------------------------------------------------------------------------
# 7. info and verify on FIFOs and big files


def test_verify_and_info_with_a_fifo_for_a_file(run, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(BUNDLED_DIR, d)
    (d / GZ_NAMES["test_labels"]).unlink()
    rescued = rescued_fifo(d / GZ_NAMES["test_labels"])
    result = run("data", "verify", d, "--json")
    assert_one_line_error(result, 1, "1 of 4 files failed", "FIFO")
    report = {r["key"]: r for r in json.loads(result.stdout)}
    assert not report["test_labels"]["exists"] and "FIFO" in report["test_labels"]["message"]
    assert report["train_images"]["ok"]
    result2 = run("data", "info", d)
    assert_one_line_error(result2, 1, GZ_NAMES["test_labels"], "FIFO")
    assert not rescued.is_set()  # never waited for a writer


def test_verify_hashes_a_big_file_in_bounded_memory(run, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for key, name in STANDARD_NAMES.items():
        with open(d / name, "wb") as f:  # raw, sparse, 256 MB each: zeros are no IDX file
            f.truncate(256 << 20 if key == "train_images" else 16)
    result = None

    def action() -> None:
        nonlocal result
        result = run("data", "verify", d, "--json")

    peak = peak_memory(action)
    assert_one_line_error(result, 1, "4 of 4 files failed")
    report = json.loads(result.stdout)
    assert len(report[0]["sha256"]) == 64 and "IDX" in report[0]["message"]
    assert peak < 32 << 20


@pytest.mark.slow
def test_verify_does_not_hash_a_file_larger_than_any_dataset(run, tmp_path, monkeypatch):
    from nnctl.io.datasets import layout, verification

    for module in (layout, verification):  # above the largest MNIST file, 9.9 MB
        monkeypatch.setattr(module, "MAX_HASHED", 12 << 20)
    d = tmp_path / "d"
    shutil.copytree(BUNDLED_DIR, d)
    with open(d / GZ_NAMES["train_labels"], "ab") as f:  # zeros after the gzip data: readable
        f.truncate(13 << 20)
    result = run("data", "verify", d, "--json")
    assert_one_line_error(result, 1, "1 of 4 files failed")
    report = {r["key"]: r for r in json.loads(result.stdout)}
    assert report["train_labels"]["sha256"] is None and not report["train_labels"]["ok"]
    assert "not hashed" in report["train_labels"]["message"]
    assert report["test_labels"]["ok"]  # small files are hashed as before
    before = snapshot(d)
    result = run("data", "fetch", "mnist", "--to", d, "--mirror", BUNDLED_DIR.as_uri())
    assert_one_line_error(result, 1, GZ_NAMES["train_labels"], "already exists")
    assert snapshot(d) == before

"""nnctl.io.datasets: the catalog, info, verify, fetch (against a local HTTP server)
and import_csv. Nothing here reaches the internet: every download comes from 127.0.0.1 or a file://
URL, with test catalogs carrying the sums of the files the tests wrote.
"""

from __future__ import annotations

import gzip
import re
import shutil
import socket
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import write_idx
from datafiles import catalog_for, emnist_like, make_arrays, sha256, write_dataset
from mirrors import GZ_NAMES, serving

import nnctl.io.idx
from nnctl.errors import DataError
from nnctl.io import datasets
from nnctl.io.datasets import KNOWN, csv_import, fetch, import_csv, info, verify
from nnctl.io.examples import BUNDLED_DIR, STANDARD_NAMES
from nnctl.io.idx import read_examples, read_idx

SHA256 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture
def tiny(tmp_path):
    """(arrays, bytes by key, catalog) of a random 200 + 50 example dataset."""
    arrays = make_arrays()
    files = write_dataset(tmp_path / "source", arrays)
    return arrays, files, catalog_for(files, {"train": 200, "test": 50})


# --------------------------------------------------------------------------------------------
# a local mirror (tests/mirrors.py)


@pytest.fixture
def mirror():
    with serving() as server:
        yield server


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing/"


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def assert_fetched(out: Path, paths: list[Path], files: dict[str, bytes]) -> None:
    assert paths == [out / GZ_NAMES[key] for key in STANDARD_NAMES]
    for key, data in files.items():
        assert (out / GZ_NAMES[key]).read_bytes() == data
    assert listing(out) == sorted(GZ_NAMES.values())  # and no temporary file


# --------------------------------------------------------------------------------------------
# the catalog


def test_known_has_the_four_datasets_with_sums_and_mirrors():
    assert set(KNOWN) == {"mnist", "fashion-mnist", "kmnist", "emnist-digits"}
    for name, entry in KNOWN.items():
        assert entry["mirrors"] and all(m.startswith(("http://", "https://"))
                                        for m in entry["mirrors"])
        assert set(entry["files"]) == set(STANDARD_NAMES)
        assert len(entry["class_names"]) == 10
        sources = [entry["archive"]] if "archive" in entry else entry["files"].values()
        for spec in sources:
            assert spec["sha256"] and all(SHA256.fullmatch(s) for s in spec["sha256"]), name
    for name in ("mnist", "fashion-mnist", "kmnist"):
        for key, spec in KNOWN[name]["files"].items():
            assert spec["name"] == GZ_NAMES[key]
    assert KNOWN["emnist-digits"]["transposed"] is True


def test_known_mnist_accepts_the_bundled_files_sums():
    """The sums of data/mnist/SHA256SUMS (gz) and SHA256SUMS.raw are in the table."""
    for sums_file, field in (("SHA256SUMS", "sha256"), ("SHA256SUMS.raw", "raw_sha256")):
        lines = (BUNDLED_DIR / sums_file).read_text().split("\n")
        listed = dict(reversed(line.split()) for line in lines if line.strip())
        for key, spec in KNOWN["mnist"]["files"].items():
            name = GZ_NAMES[key] if field == "sha256" else STANDARD_NAMES[key]
            accepted = spec[field] if field == "sha256" else (spec[field],)
            assert listed[name] in accepted


def test_unknown_dataset_has_a_did_you_mean():
    with pytest.raises(DataError, match=r"unknown dataset 'minst'; did you mean 'mnist'\?"):
        fetch("minst", "/nonexistent/never-created")
    with pytest.raises(DataError, match="did you mean 'fashion-mnist'"):
        verify(BUNDLED_DIR, "fashon-mnist")
    assert datasets.lookup("Fashion_MNIST") is KNOWN["fashion-mnist"]


# --------------------------------------------------------------------------------------------
# fetch


def test_fetch_from_the_first_mirror(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    out = tmp_path / "new" / "dir"
    paths = fetch("tiny", out, mirrors=[mirror.serve("a", files), mirror.serve("b", files)],
                  catalog=catalog, timeout=5)
    assert_fetched(out, paths, files)
    assert sorted(mirror.requests) == sorted(f"/a/{name}" for name in GZ_NAMES.values())
    images, labels = read_examples(paths[0], paths[1])
    np.testing.assert_array_equal(images, tiny[0]["train_images"])
    np.testing.assert_array_equal(labels, tiny[0]["train_labels"])


def test_fetch_falls_back_after_a_404(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    first = mirror.serve("a", files, only={"train_images"})  # has one file only
    paths = fetch("tiny", tmp_path / "out", mirrors=[first, mirror.serve("b", files)],
                  catalog=catalog, timeout=5)
    assert_fetched(tmp_path / "out", paths, files)
    assert mirror.requests == ["/a/train-images-idx3-ubyte.gz",
                               "/a/train-labels-idx1-ubyte.gz", "/b/train-labels-idx1-ubyte.gz",
                               "/a/t10k-images-idx3-ubyte.gz", "/b/t10k-images-idx3-ubyte.gz",
                               "/a/t10k-labels-idx1-ubyte.gz", "/b/t10k-labels-idx1-ubyte.gz"]


def test_fetch_rejects_a_corrupted_file_and_takes_the_next_mirror(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    corrupted = {key: data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:]
                 for key, data in files.items()}
    paths = fetch("tiny", tmp_path / "out",
                  mirrors=[mirror.serve("bad", corrupted), mirror.serve("good", files)],
                  catalog=catalog, timeout=5)
    assert_fetched(tmp_path / "out", paths, files)
    assert len(mirror.requests) == 8


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["stall", "stall_body"])
def test_fetch_gives_up_on_a_stalled_mirror(tmp_path, mirror, tiny, kind):
    _, files, catalog = tiny
    start = time.monotonic()
    paths = fetch("tiny", tmp_path / "out",
                  mirrors=[mirror.serve("slow", files, kind), mirror.serve("good", files)],
                  catalog=catalog, timeout=0.5)
    elapsed = time.monotonic() - start
    assert_fetched(tmp_path / "out", paths, files)
    assert elapsed >= 4 * 0.5  # each file waited one timeout on the stalled mirror, then the
    # client hung up on it (a stall lasts two minutes, so a missed timeout cannot pass)
    assert mirror.gave_up("slow", 4) == sorted(f"/slow/{name}" for name in GZ_NAMES.values())


def test_fetch_all_mirrors_bad_is_one_line_error_and_leaves_nothing(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    wrong = {key: data + b"x" for key, data in files.items()}
    mirrors = [closed_port_url(), mirror.serve("missing", {}), mirror.serve("wrong", wrong),
               mirror.serve("short", files, "truncate")]
    out = tmp_path / "out"
    with pytest.raises(DataError) as raised:
        fetch("tiny", out, mirrors=mirrors, catalog=catalog, timeout=2)
    message = str(raised.value)
    assert "\n" not in message
    assert "train-images-idx3-ubyte.gz" in message and "4 mirrors failed" in message
    assert "/short/train-images-idx3-ubyte.gz: truncated" in message
    assert listing(out) == []  # no file under its final name, no temporary file


def test_fetch_all_mirrors_bad_keeps_an_existing_file_untouched(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    out = tmp_path / "out"
    out.mkdir()
    (out / GZ_NAMES["train_images"]).write_bytes(b"old contents")
    with pytest.raises(DataError, match="SHA-256 mismatch"):  # --force: it may be replaced...
        fetch("tiny", out, mirrors=[mirror.serve("wrong", {k: v + b"!" for k, v in files.items()})],
              catalog=catalog, timeout=2, force=True)
    assert listing(out) == [GZ_NAMES["train_images"]]
    assert (out / GZ_NAMES["train_images"]).read_bytes() == b"old contents"


def test_fetch_reasons_name_the_failure(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    cases = {"missing": ("status", "HTTP 404"), "forbidden": ("status", "HTTP 403"),
             "short": ("truncate", "truncated")}
    for prefix, (kind, expected) in cases.items():
        payload = 403 if prefix == "forbidden" else files["train_images"]
        if prefix != "missing":
            mirror.routes[f"/{prefix}/{GZ_NAMES['train_images']}"] = (kind, payload)
        with pytest.raises(DataError, match=expected):
            fetch("tiny", tmp_path / prefix, mirrors=[f"{mirror.base}/{prefix}/"],
                  catalog=catalog, timeout=2)
    with pytest.raises(DataError, match="timed out"):
        fetch("tiny", tmp_path / "slow", mirrors=[mirror.serve("slow", files, "stall")],
              catalog=catalog, timeout=0.3)
    sized = {"tiny": dict(catalog["tiny"], files={
        key: dict(spec, size=len(files[key]) - 1)
        for key, spec in catalog["tiny"]["files"].items()})}
    with pytest.raises(DataError, match="more than the published"):
        fetch("tiny", tmp_path / "big", mirrors=[mirror.serve("ok", files)], catalog=sized)
    with pytest.raises(DataError, match="refused|Connection"):
        fetch("tiny", tmp_path / "refused", mirrors=[closed_port_url()], catalog=catalog)


def test_fetch_skips_files_already_present_and_right(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    out = tmp_path / "out"
    base = mirror.serve("a", files)
    fetch("tiny", out, mirrors=[base], catalog=catalog, timeout=5)
    assert len(mirror.requests) == 4
    fetch("tiny", out, mirrors=[base], catalog=catalog, timeout=5)
    assert len(mirror.requests) == 4  # nothing downloaded again
    (out / GZ_NAMES["test_labels"]).write_bytes(b"damaged")
    with pytest.raises(DataError, match="already exists .* pass --force"):
        fetch("tiny", out, mirrors=[base], catalog=catalog, timeout=5)
    assert len(mirror.requests) == 4
    paths = fetch("tiny", out, mirrors=[base], catalog=catalog, timeout=5, force=True)
    assert mirror.requests[4:] == ["/a/t10k-labels-idx1-ubyte.gz"]  # only the bad one
    assert_fetched(out, paths, files)


def test_fetch_reports_progress_with_increasing_byte_counts(tmp_path, mirror, tiny):
    _, files, catalog = tiny
    calls = []
    fetch("tiny", tmp_path / "out", mirrors=[mirror.serve("a", files)], catalog=catalog,
          progress=lambda name, done, total: calls.append((name, done, total)), timeout=5)
    for key, data in files.items():
        mine = [(done, total) for name, done, total in calls if name == GZ_NAMES[key]]
        done = [d for d, _ in mine]
        assert done == sorted(set(done)) and done[-1] == len(data)
        assert all(total == len(data) for _, total in mine)
    assert len([c for c in calls if c[0] == GZ_NAMES["train_images"]]) >= 2  # > 64 KiB: blocks


def test_fetch_from_a_file_url(tmp_path, tiny):
    _, files, catalog = tiny
    paths = fetch("tiny", tmp_path / "out", mirrors=[(tmp_path / "source").as_uri()],
                  catalog=catalog)
    assert_fetched(tmp_path / "out", paths, files)


def test_fetch_into_a_file_is_a_data_error(tmp_path, tiny):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        fetch("tiny", tmp_path / "file", mirrors=["http://127.0.0.1:9/"], catalog=tiny[2])


def test_fetch_extracts_an_archive_after_checking_its_sum(tmp_path, mirror, tiny):
    _, files, _ = tiny
    archive, catalog = emnist_like(files)
    middle = len(archive) // 2
    damaged = archive[:middle] + bytes([archive[middle] ^ 1]) + archive[middle + 1:]
    mirror.routes["/bad/gzip.zip"] = ("ok", damaged)
    mirror.routes["/good/gzip.zip"] = ("ok", archive)
    out = tmp_path / "out"
    base = [f"{mirror.base}/bad/", f"{mirror.base}/good/"]
    paths = fetch("emnist-like", out, mirrors=base, catalog=catalog, timeout=5)
    assert_fetched(out, paths, files)  # standard names, the zip deleted
    assert mirror.requests == ["/bad/gzip.zip", "/good/gzip.zip"]
    fetch("emnist-like", out, mirrors=base, catalog=catalog, timeout=5)
    assert len(mirror.requests) == 2  # valid files with the published counts: kept
    (out / GZ_NAMES["train_labels"]).write_bytes(gzip.compress(b"broken"))
    with pytest.raises(DataError, match="is not a valid IDX file .* pass --force"):
        fetch("emnist-like", out, mirrors=base, catalog=catalog, timeout=5)
    assert len(mirror.requests) == 2
    kept = []
    fetch("emnist-like", out, mirrors=base, catalog=catalog, timeout=5, force=True,
          on_kept=kept.append)
    assert_fetched(out, paths, files)
    assert len(mirror.requests) == 4
    assert GZ_NAMES["train_labels"] not in [path.name for path in kept] and len(kept) == 3


# --------------------------------------------------------------------------------------------
# info


def test_info_matches_the_arrays(tmp_path):
    arrays = make_arrays(n_train=120, n_test=30, shape=(7, 5), classes=6, seed=3)
    arrays["test_labels"][:] = np.minimum(arrays["test_labels"], 3)  # classes 4, 5: none in test
    write_dataset(tmp_path / "d", arrays, gz=False)
    result = info(tmp_path / "d")
    assert result["image_shape"] == [7, 5] and result["pixel_dtype"] == "uint8"
    assert result["classes"] == 6
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        s = result["splits"][split]
        assert s["count"] == len(labels)
        assert s["image_shape"] == [7, 5]
        assert s["pixel_min"] == images.min() and s["pixel_max"] == images.max()
        assert s["pixel_mean"] == pytest.approx(images.mean())
        assert s["pixel_std"] == pytest.approx(images.std())
        assert s["class_counts"] == np.bincount(labels, minlength=6).tolist()
        assert s["images"].endswith(STANDARD_NAMES[f"{split}_images"])
    assert result["splits"]["test"]["class_counts"][4:] == [0, 0]


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_info_and_verify_read_the_images_a_block_at_a_time(tmp_path, monkeypatch, gz):
    """On 16 MB of images read in 64 KiB blocks, neither holds more than a small part of them
    (tracemalloc counts numpy's buffers), and info's figures are still those of the arrays."""
    monkeypatch.setattr(nnctl.io.idx, "BLOCK_BYTES", 1 << 16)
    arrays = make_arrays(n_train=16384, n_test=16, shape=(32, 32), classes=10, seed=5)
    write_dataset(tmp_path / "d", arrays, gz=gz)
    size = arrays["train_images"].nbytes
    for look in (info, verify):
        tracemalloc.start()
        try:
            result = look(tmp_path / "d")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < size / 4, (look.__name__, peak, size)  # verify: 2 MiB of hashing
    images = arrays["train_images"]
    assert result[0]["count"] == 16384  # no published sums: unknown
    figures = info(tmp_path / "d")["splits"]["train"]
    assert figures["pixel_mean"] == pytest.approx(images.mean(), rel=1e-12)
    assert figures["pixel_std"] == pytest.approx(images.std(), rel=1e-12)


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4"])
def test_info_gives_the_mean_and_spread_of_any_pixel_type(tmp_path, monkeypatch, dtype):
    """Pixels of one or two bytes are summed as integers: the mean and the standard deviation
    are the exact ones, correctly rounded, even over several blocks. Wider integers and floats
    are summed in float64, within 1e-12 of numpy's."""
    from fractions import Fraction

    monkeypatch.setattr(nnctl.io.idx, "BLOCK_BYTES", 1 << 12)  # several blocks
    rng = np.random.default_rng(7)
    high = {"u1": 256, "i1": 128, ">i2": 32768, ">i4": 2**31, ">f4": 2**20}[dtype]
    images = rng.integers(-high if dtype != "u1" else 0, high, (500, 6, 5))
    images = images.astype(np.dtype(dtype).newbyteorder("="))
    if dtype == ">f4":
        images = images / np.float32(7)
    directory = tmp_path / "d"
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte", images, gz=False)
    write_idx(directory / "train-labels-idx1-ubyte", rng.integers(0, 3, 500).astype(np.uint8),
              gz=False)
    train = info(directory)["splits"]["train"]
    if dtype in ("u1", "i1", ">i2"):
        values = [int(v) for v in images.ravel()]
        n, total = len(values), sum(values)
        variance = Fraction(n * sum(v * v for v in values) - total * total, n * n)
        assert train["pixel_mean"] == float(Fraction(total, n))
        assert train["pixel_std"] == float(variance) ** 0.5  # the exact variance's root
    else:
        assert train["pixel_mean"] == pytest.approx(images.astype(np.float64).mean(), rel=1e-12)
        assert train["pixel_std"] == pytest.approx(images.astype(np.float64).std(), rel=1e-12)


def test_info_on_the_bundled_mnist():
    result = info(BUNDLED_DIR)
    train, test = result["splits"]["train"], result["splits"]["test"]
    assert (train["count"], test["count"]) == (60000, 10000)
    assert result["image_shape"] == [28, 28] and result["pixel_dtype"] == "uint8"
    assert result["classes"] == 10
    assert (train["label_min"], train["label_max"]) == (0, 9)
    assert (train["pixel_min"], train["pixel_max"]) == (0, 255)
    assert 30 < train["pixel_mean"] < 37  # MNIST's mean pixel is about 33.3
    assert sum(train["class_counts"]) == 60000 and sum(test["class_counts"]) == 10000
    assert min(train["class_counts"]) > 5000 and len(test["class_counts"]) == 10
    for split, figures in result["splits"].items():  # 47 and 7.8 million pixels, summed exactly
        pixels = read_idx(figures["images"]).reshape(-1)
        n, total = len(pixels), int(pixels.sum(dtype=np.int64))
        squares = int(np.einsum("i,i->", pixels, pixels, dtype=np.int64))
        assert figures["pixel_mean"] == total / n, split
        assert figures["pixel_std"] == ((n * squares - total * total) / (n * n)) ** 0.5, split


def test_info_with_only_a_training_split_and_errors(tmp_path):
    arrays = make_arrays(n_train=20, n_test=5, shape=(3, 3))
    del arrays["test_images"], arrays["test_labels"]
    write_dataset(tmp_path / "d", arrays)
    assert list(info(tmp_path / "d")["splits"]) == ["train"]
    with pytest.raises(DataError, match="no such directory"):
        info(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no MNIST-style files"):
        info(tmp_path / "empty")
    (tmp_path / "d" / GZ_NAMES["train_labels"]).unlink()
    with pytest.raises(DataError, match="no such file"):
        info(tmp_path / "d")


# --------------------------------------------------------------------------------------------
# verify


def copy_mnist(tmp_path) -> Path:
    target = tmp_path / "mnist"
    target.mkdir()
    for name in GZ_NAMES.values():
        shutil.copy(BUNDLED_DIR / name, target / name)
    return target


def test_verify_passes_on_the_bundled_mnist():
    results = verify(BUNDLED_DIR)
    assert [r["key"] for r in results] == list(STANDARD_NAMES)
    for r in results:
        assert r["ok"] and r["exists"] and r["structure_ok"], r
        assert r["checksum"] == "match" and r["dataset"] == "mnist"
        assert r["message"].startswith("ok")
    assert [r["count"] for r in results] == [60000, 60000, 10000, 10000]
    assert results[0]["shape"] == [28, 28]


def test_verify_flags_a_modified_copy(tmp_path):
    target = copy_mnist(tmp_path)
    path = target / GZ_NAMES["test_labels"]
    labels = read_idx(path)
    labels[17] = (labels[17] + 1) % 10  # still a valid IDX file, other content
    write_idx(path, labels)
    results = {r["key"]: r for r in verify(target)}
    bad = results["test_labels"]
    assert not bad["ok"] and bad["structure_ok"] and bad["checksum"] == "mismatch"
    assert "SHA-256" in bad["message"] and bad["sha256"] == sha256(path.read_bytes())
    for key in ("train_images", "train_labels", "test_images"):
        assert results[key]["ok"] and results[key]["dataset"] == "mnist"


def test_verify_flags_a_damaged_gzip(tmp_path):
    target = copy_mnist(tmp_path)
    path = target / GZ_NAMES["test_images"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    results = {r["key"]: r for r in verify(target)}
    bad = results["test_images"]
    assert not bad["ok"] and bad["structure_ok"] is False and bad["checksum"] == "mismatch"
    assert "gzip" in bad["message"] or "IDX" in bad["message"] or "truncated" in bad["message"]


def test_verify_accepts_raw_and_recompressed_mnist_by_content(tmp_path):
    target = copy_mnist(tmp_path)
    labels_gz = target / GZ_NAMES["test_labels"]
    (target / STANDARD_NAMES["test_labels"]).write_bytes(gzip.decompress(labels_gz.read_bytes()))
    labels_gz.unlink()  # the raw file is used now
    images_gz = target / GZ_NAMES["test_images"]
    images_gz.write_bytes(gzip.compress(gzip.decompress(images_gz.read_bytes()), 1, mtime=0))
    results = {r["key"]: r for r in verify(target)}
    assert all(r["ok"] and r["checksum"] == "match" for r in results.values()), results
    assert results["test_labels"]["file"].endswith(STANDARD_NAMES["test_labels"])


def test_verify_reports_missing_files_and_count_mismatches(tmp_path):
    arrays = make_arrays(n_train=30, n_test=10, shape=(4, 4))
    arrays["test_labels"] = arrays["test_labels"][:9]
    files = write_dataset(tmp_path / "d", arrays)
    (tmp_path / "d" / GZ_NAMES["train_labels"]).unlink()
    results = {r["key"]: r for r in verify(tmp_path / "d")}
    missing = results["train_labels"]
    assert not missing["exists"] and not missing["ok"] and missing["message"] == "missing"
    assert missing["checksum"] is None and missing["structure_ok"] is None
    assert results["train_images"]["ok"]  # alone it is fine
    assert (results["train_images"]["checksum"] == "unknown"
            and results["train_images"]["dataset"] is None)
    assert (not results["test_labels"]["ok"]
            and "9 labels for 10 images" in results["test_labels"]["message"])
    catalog = catalog_for(files, {"train": 31, "test": 10})
    named = {r["key"]: r for r in verify(tmp_path / "d", "tiny", catalog=catalog)}
    assert named["train_images"]["checksum"] == "match"
    assert not named["train_images"]["ok"] and "tiny has 31" in named["train_images"]["message"]


def test_verify_a_test_catalog_and_errors(tmp_path, tiny):
    catalog = tiny[2]
    directory = tmp_path / "source"
    assert all(r["ok"] and r["checksum"] == "match" for r in verify(directory, catalog=catalog))
    with pytest.raises(DataError, match="no such directory"):
        verify(tmp_path / "nope")
    (tmp_path / "plain").write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        verify(tmp_path / "plain")


def test_verify_a_dataset_without_published_sums(tmp_path, tiny):
    _, files, _ = tiny
    _, catalog = emnist_like(files)
    results = verify(tmp_path / "source", "emnist-like", catalog=catalog)
    assert all(r["ok"] and r["checksum"] == "unknown" for r in results)
    assert "publishes no SHA-256" in results[0]["message"]


# --------------------------------------------------------------------------------------------
# import_csv


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray, header: bool = False) -> Path:
    rows = [",".join(map(str, [label, *image.reshape(-1)])) for image, label in zip(images, labels)]
    if header:
        rows.insert(0, ",".join(["label"] + [f"pixel{i}" for i in range(images[0].size)]))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_import_csv_round_trip(tmp_path):
    arrays = make_arrays(n_train=40, n_test=12, shape=(4, 4), classes=10, seed=1)
    train = write_csv(tmp_path / "train.csv", arrays["train_images"], arrays["train_labels"])
    test = write_csv(tmp_path / "test.csv", arrays["test_images"], arrays["test_labels"])
    written = import_csv(train, tmp_path / "out", test_csv=test)
    assert written == [tmp_path / "out" / GZ_NAMES[key] for key in STANDARD_NAMES]
    assert listing(tmp_path / "out") == sorted(GZ_NAMES.values())
    for split in ("train", "test"):
        images, labels = read_examples(tmp_path / "out" / GZ_NAMES[f"{split}_images"],
                                       tmp_path / "out" / GZ_NAMES[f"{split}_labels"])
        assert images.dtype == np.uint8 and images.shape[1:] == (4, 4)  # sqrt of 16 columns
        np.testing.assert_array_equal(images, arrays[f"{split}_images"])
        np.testing.assert_array_equal(labels, arrays[f"{split}_labels"])
    assert (tmp_path / "out" / GZ_NAMES["train_images"]).read_bytes()[:2] == b"\x1f\x8b"
    assert all(r["ok"] for r in verify(tmp_path / "out"))


def test_import_csv_with_a_header_a_shape_and_large_labels(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (25, 3, 5)).astype(np.uint8)
    labels = rng.integers(0, 1000, 25)
    path = write_csv(tmp_path / "train.csv", images, labels, header=True)
    with pytest.raises(DataError, match="15 pixel columns is not a square number"):
        import_csv(path, tmp_path / "out")
    with pytest.raises(DataError, match="do not make images of shape 4x4"):
        import_csv(path, tmp_path / "out", image_shape=(4, 4))
    assert not (tmp_path / "out").exists()
    written = import_csv(path, tmp_path / "out", image_shape=(3, 5))
    assert len(written) == 2
    got_images, got_labels = read_examples(*written)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)  # labels > 255: stored as 32-bit
    with pytest.raises(DataError, match="already exists"):
        import_csv(path, tmp_path / "out", image_shape=(3, 5))
    import_csv(path, tmp_path / "out", image_shape=(3, 5), overwrite=True)


def test_import_csv_reports_lines_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_import, "CSV_CHUNK", 7)
    rows = ["label,a,b,c,d", ""] + [f"{i % 10},1,2,3,4" for i in range(30)]
    rows[25] = "3,1,2,300,4"  # line 26
    path = tmp_path / "blocks.csv"
    path.write_text("\r\n".join(rows) + "\r\n")
    with pytest.raises(DataError, match=r"blocks\.csv: line 26, column 4: pixel value 300"):
        import_csv(path, tmp_path / "out")
    rows[25] = "3,1,2,3,4"
    path.write_text("\r\n".join(rows) + "\r\n")
    images, labels = read_examples(*import_csv(path, tmp_path / "out"))
    assert images.shape == (30, 2, 2) and labels.tolist() == [i % 10 for i in range(30)]


@pytest.mark.parametrize("lines, line, what", [
    (["1,0,0,0,0", "2,0,0,0", "3,0,0,0,0"], 2, "4 columns, expected 5"),
    (["1,0,0,0,0", "2,0,0,0,0,0"], 2, "6 columns, expected 5"),
    (["1,0,0,0,0", "2,0,0,0,0", "3,0,1.5,0,0"], 3, "column 3: '1.5' is not an integer"),
    (["1,0,0,0,0", "2,0,abc,0,0"], 2, "column 3: 'abc' is not an integer"),
    (["1,0,0,0,256"], 1, "column 5: pixel value 256 is outside 0..255"),
    (["1,0,0,0,0", "1,-1,0,0,0"], 2, "column 2: pixel value -1 is outside 0..255"),
    (["1,0,0,0,0", "1,0,0,0,0", "-3,0,0,0,0"], 3, "label -3 is negative"),
    (["label,a,b,c,d", "1,0,0,0,0", "x,0,0,0,0"], 3, "label 'x' is not an integer"),
    (["label,a,b,c,d", "1,0,0,0,0", "2.0,0,0,0,0"], 3, "label '2.0' is not an integer"),
    (["1,0,0,0,0", "1,0,0,0,99999999999999999999999"], 2, "outside 0..255"),
    (["label,a,b,c,d"], 1, "a header row and no data rows"),
    (["7"], 1, "expected a label and at least one pixel"),
])
def test_import_csv_errors_name_the_file_and_line(tmp_path, lines, line, what):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as raised:
        import_csv(path, tmp_path / "out")
    message = str(raised.value)
    assert message.startswith(f"{path}: line {line}") and what in message
    assert "\n" not in message
    assert not (tmp_path / "out").exists()  # nothing written


def test_import_csv_empty_and_mismatched_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match=r"empty\.csv: empty file"):
        import_csv(empty, tmp_path / "out")
    with pytest.raises(DataError, match="no such file"):
        import_csv(tmp_path / "missing.csv", tmp_path / "out")
    train = tmp_path / "train.csv"
    train.write_text("1,0,0,0,0\n2,0,0,0,0\n")
    test = tmp_path / "test.csv"
    test.write_text("1,0,0,0,0,0,0,0,0,0\n")
    with pytest.raises(DataError, match=r"test\.csv: 9 pixel columns, but .*train\.csv has 4"):
        import_csv(train, tmp_path / "out", test_csv=test)
    bad_test = tmp_path / "bad_test.csv"
    bad_test.write_text("1,0,0,0,0\n1,0,0,0,0\n1,0,0,0\n")
    with pytest.raises(DataError, match=r"bad_test\.csv: line 3: 4 columns"):
        import_csv(train, tmp_path / "out", test_csv=bad_test)
    assert not (tmp_path / "out").exists()

"""`nnctl data info|verify|fetch|import-csv` from the command line (the library:
test_datasets.py)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np

from nnctl.io.idx import read_examples

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "mnist"


def test_info_json_and_figure(run, tmp_path):
    figure = tmp_path / "mnist.png"
    result = run("data", "info", BUNDLED, "--json", "--figure", figure)
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["splits"]["train"]["count"] == 60_000 and info["splits"]["test"]["count"] == 10_000
    assert sum(info["splits"]["test"]["class_counts"]) == 10_000 and info["image_shape"] == [28, 28]
    assert figure.stat().st_size > 1000


def test_verify_passes_on_the_bundled_data_and_fails_on_a_damaged_copy(run, tmp_path):
    assert run("data", "verify", BUNDLED).exit_code == 0
    copy = tmp_path / "copy"
    shutil.copytree(BUNDLED, copy)
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] = (raw[-1] + 1) % 10  # one label changed: a valid file, the wrong data
    labels.write_bytes(gzip.compress(bytes(raw)))
    result = run("data", "verify", copy)
    assert (result.exit_code == 1 and result.stderr.startswith("Error: ")
            and "1 of 4" in result.stderr)


def test_fetch_from_a_local_mirror_then_train_on_it(run, tmp_path, write_config):
    to = tmp_path / "fetched"
    result = run("data", "fetch", "mnist", "--to", to, "--mirror", BUNDLED.as_uri())
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in to.iterdir()) == sorted(p.name for p in BUNDLED.glob("*.gz"))
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1},
                           "data": {"dir": str(to)}})
    assert run("train", config, "--out", tmp_path / "run", "--quiet").exit_code == 0


def test_fetch_failures_are_one_line(run, tmp_path):
    unknown = run("data", "fetch", "fashion-mnits", "--to", tmp_path / "x")
    assert unknown.exit_code == 1 and "did you mean 'fashion-mnist'" in unknown.stderr
    nowhere = run("data", "fetch", "mnist", "--to", tmp_path / "y", "--mirror",
                  (tmp_path / "none").as_uri())
    assert nowhere.exit_code == 1 and len(nowhere.stderr.strip().splitlines()) == 1
    assert not any((tmp_path / "y").glob("*")) if (tmp_path / "y").exists() else True


def test_import_csv_round_trip_and_errors(run, tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 30)
    pixels = rng.integers(0, 256, (30, 16))
    train = tmp_path / "train.csv"
    train.write_text("label," + ",".join(f"p{i}" for i in range(16)) + "\n" +
                     "\n".join(",".join(map(str, [l, *row]))
                               for l, row in zip(labels, pixels)) + "\n")
    to = tmp_path / "idx"
    result = run("data", "import-csv", train, "--to", to, "--test", train)
    assert result.exit_code == 0, result.stderr
    images, read_labels = read_examples(to / "train-images-idx3-ubyte.gz",
                                        to / "train-labels-idx1-ubyte.gz")
    assert images.shape == (30, 4, 4) and (images.reshape(30, 16) == pixels).all()
    assert (read_labels == labels).all()

    again = run("data", "import-csv", train, "--to", to)
    assert again.exit_code == 1  # existing files are not overwritten without --force
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3,4,5\n1,2,3\n")
    ragged = run("data", "import-csv", bad, "--to", tmp_path / "other", "--shape", "2x2")
    assert ragged.exit_code == 1 and "line 2" in ragged.stderr
    assert run("data", "import-csv", bad, "--to", tmp_path / "o", "--shape", "two").exit_code == 2

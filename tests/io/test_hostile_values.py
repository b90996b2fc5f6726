"""Issue 19, part 3: non-finite and huge numbers in data, sweeps, initial weights and figures;
where a config error's value came from; predict's count of what it skips.

Every case is a one-line error with its exit status and nothing written, or a clean success,
and no Python, numpy or matplotlib warning: the tests run with warnings turned into errors.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import assert_one_line_error, snapshot, write_idx

from nnctl.errors import ConfigError, DataError
from nnctl.io.config import config_from_dict
from nnctl.io.idx import read_idx
from nnctl.sweep.spec import load_sweep
from nnctl.tasks.train import train

SHAPE = (8, 6)


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """Any warning nnctl lets through fails the test (as it would reach the user's terminal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for category in (DeprecationWarning, PendingDeprecationWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        yield


def make_dataset(directory: Path, dtype: str = "u1", bad: float | None = None,
                 where: int = 7) -> Path:
    """A learnable 3-class dataset of 8x6 images in `dtype`; with `bad`, one pixel of image
    `where` (of both splits) holds it."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    for prefix, n in (("train", 300), ("t10k", 60)):
        labels = rng.integers(0, 3, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, *SHAPE)).astype(dtype)
        for k in range(3):
            images[labels == k, 2 * k:2 * k + 2] = 250
        if bad is not None:
            images[where, 3, 2] = bad
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return directory


QUICK = {"data": {"validation": 50}, "training": {"epochs": 1}}


def quick(data_dir: Path, **sections) -> dict:
    raw = {"model": {}, "training": dict(QUICK["training"]),
           "data": {**QUICK["data"], "dir": str(data_dir)}}
    for section, values in sections.items():
        raw[section].update(values)
    return raw


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A 48-8-3 network trained for one epoch on the clean dataset."""
    base = tmp_path_factory.mktemp("attack3")
    data = make_dataset(base / "clean")
    out = base / "run"
    train(config_from_dict(quick(data, model={"hidden": [8]}), "small"), out)
    return out


# --------------------------------------------------------------------------- 4: IDX values


@pytest.mark.parametrize("dtype", ["f4", "f8"])
@pytest.mark.parametrize("value, words", [
    (np.nan, ["image 7 holds a non-finite pixel (nan)"]),
    (np.inf, ["image 7 holds a non-finite pixel (inf)"]),
    (-np.inf, ["image 7 holds a non-finite pixel (-inf)"]),
    (1e30, ["image 7 holds a pixel of 1e+30", "outside +-2**31"]),
    (-3e9, ["image 7 holds a pixel of -3e+09", "outside +-2**31"]),
])
def test_float_idx_pixels_not_finite_or_huge_are_refused_by_every_reader(
        run, tmp_path, small_run, dtype, value, words):
    data = make_dataset(tmp_path / "bad", dtype, value)
    images = data / "train-images-idx3-ubyte.gz"
    with pytest.raises(DataError, match="image 7 holds a"):
        read_idx(images)
    verify = run("data", "verify", data)
    assert verify.exit_code == 1 and "image 7 holds a" in verify.stdout
    assert_one_line_error(run("data", "info", data), 1, str(images), *words)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(quick(data)))
    assert_one_line_error(run("train", config, "--out", tmp_path / "r"), 1, str(images), *words)
    assert not (tmp_path / "r").exists()
    before = snapshot(small_run)
    result = run("evaluate", small_run, "--images", data / "t10k-images-idx3-ubyte.gz",
                 "--labels", data / "t10k-labels-idx1-ubyte.gz", "--json")
    assert_one_line_error(result, 1, "t10k-images", *words)
    assert snapshot(small_run) == before


def test_float_idx_values_within_the_int32_range_train(run, tmp_path):
    data = make_dataset(tmp_path / "ok", "f8", -(2.0**31), where=3)
    assert read_idx(data / "train-images-idx3-ubyte.gz")[3, 3, 2] == -(2.0**31)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(quick(data)))
    result = run("train", config, "--out", tmp_path / "r", "-q")
    assert result.exit_code in (0, 3), result.stderr  # trains, or diverges: never a warning
    assert "Warning" not in result.stderr


def test_float_labels_that_are_not_finite_name_the_value(tmp_path):
    path = tmp_path / "labels.gz"
    write_idx(path, np.array([0.0, 1.0, np.nan]))
    with pytest.raises(DataError, match="value 2 is a non-finite number"):
        read_idx(path)


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-inf", "1e300", "Infinity"])
def test_import_csv_refuses_non_finite_and_float_pixels(run, tmp_path, cell):
    source = tmp_path / "d.csv"
    source.write_text(f"label,a,b,c,d\n1,0,1,2,3\n2,0,{cell},2,3\n")
    result = run("data", "import-csv", source, "--to", tmp_path / "o")
    assert_one_line_error(result, 1, "line 3, column 3", "not an integer")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- 9: sweep bounds


def write_sweep(path: Path, parameter: str, spec: str) -> Path:
    path.write_text("base: {data: {limit: 600, validation: 100}}\nmethod: random\nsamples: 2\n"
                    f"parameters:\n  {parameter}: {spec}\n")
    return path


def test_sweep_uniform_range_that_overflows_is_a_config_error(run, tmp_path):
    path = write_sweep(tmp_path / "s.yaml", "training.decay",
                       "{distribution: uniform, min: -1e308, max: 1e308}")
    result = run("sweep", path, "--out", tmp_path / "sweep")
    assert_one_line_error(result, 2, "s.yaml: parameters: training.decay",
                          "max - min must be a finite number")
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("parameter, spec, words", [
    ("training.decay", "{distribution: uniform, min: -1.5e308, max: 1e308}", ["max - min"]),
    ("training.decay", "{distribution: uniform, min: .nan, max: 1}", ["min: must be a finite"]),
    ("training.decay", "{distribution: uniform, min: 0, max: .inf}", ["max: must be a finite"]),
    ("training.decay", "{distribution: uniform, min: true, max: 2}", ["min: must be a number"]),
    ("training.decay", "{distribution: loguniform, min: -1e308, max: 1}", ["min > 0"]),
    ("training.decay", "{distribution: loguniform, min: 0, max: 1}", ["min > 0"]),
    ("training.epochs", "{distribution: int, min: 0, max: 4611686018427387904}",
     ["max: an int distribution's bounds lie within +-(2**62 - 1)"]),
    ("training.epochs", "{distribution: int, min: 0, max: 99999999999999999999999999999}",
     ["within +-(2**62 - 1)"]),
    ("training.epochs", "{distribution: int, min: false, max: 3}", ["whole numbers"]),
    ("training.learning_rate", "{distribution: loguniform, min: 1e-300, max: 1e300}",
     ["point 0", "does not fit training.dtype float32"]),
    ("data.augment.affine.rotation", "{distribution: uniform, min: 0, max: 1000}",
     ["point 0 (rotation=", "data.augment.affine.rotation: must be from 0 to 180"]),
])
def test_sweep_distribution_bounds_are_one_line_config_errors(tmp_path, parameter, spec, words):
    path = write_sweep(tmp_path / "s.yaml", parameter, spec)
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    for word in [str(path), *words]:
        assert word in str(caught.value)


@pytest.mark.parametrize("parameter, spec", [
    ("training.decay", "{distribution: uniform, min: 0, max: 1e308}"),
    ("training.decay", "{distribution: loguniform, min: 5e-324, max: 1.7976931348623157e308}"),
    ("training.epochs", "{distribution: int, min: 0, max: 4611686018427387903}"),
    ("data.limit", "{distribution: int, min: 1000, max: 4611686018427387903}"),
])
def test_sweep_extreme_but_valid_bounds_draw(tmp_path, parameter, spec):
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", parameter, spec))
    assert all(np.isfinite(t.values[parameter]) for t in sweep.trials)


# --------------------------------------------------------------------------- 13: init scale


@pytest.mark.parametrize("scheme, scale, activation, dtype, words", [
    ("normal", "1e38", "sigmoid", "float32", ["draws initial weights beyond the range of float32"]),
    ("uniform", "3.4e38", "sigmoid", "float32", ["outputs overflow float32"]),
    ("normal", "1e308", "sigmoid", "float64", ["beyond the range of float64"]),
    ("he", "1e20", "relu", "float32", ["outputs overflow float32"]),
    ("xavier", "1e200", "relu", "float64", ["outputs overflow float64"]),
])
def test_init_scale_too_large_is_a_config_error_before_the_run_directory(
        run, tmp_path, scheme, scale, activation, dtype, words):
    data = make_dataset(tmp_path / "d")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(quick(data, model={"hidden": [8, 8]})))
    result = run("train", config, "--out", tmp_path / "r", "--set", f"model.init.scale={scale}",
                 "--set", f"model.init.scheme={scheme}", "--set", f"model.activation={activation}",
                 "--set", f"training.dtype={dtype}")
    assert_one_line_error(result, 2, "--set model.init.scale: ", f"(init scheme {scheme})",
                          *words)
    assert "learning_rate" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_init_scale_from_the_file_names_the_file(run, tmp_path):
    data = make_dataset(tmp_path / "d")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(quick(data, model={"init": {"scheme": "normal",
                                                                  "scale": 1e38}})))
    result = run("train", config, "--out", tmp_path / "r")
    assert_one_line_error(result, 2, f"{config}: model.init.scale: 1e+38", "float32")
    assert not (tmp_path / "r").exists()


def test_gradcheck_refuses_infinite_initial_weights(run, tmp_path):
    data = make_dataset(tmp_path / "d")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(quick(data, model={"init": {"scheme": "normal",
                                                                  "scale": 1e308}},
                                           training={"dtype": "float64"})))
    assert_one_line_error(run("gradcheck", config), 2, f"{config}: model.init.scale",
                          "beyond the range of float64")


# --------------------------------------------------------------------------- 15: the source


AUGMENT = [("data.augment.affine.rotation", "500", "must be from 0 to 180"),
           ("data.augment.affine.scale", "0.995", "must be from 0 to 0.99"),
           ("data.augment.affine.shear", "90", "must be from 0 to 80"),
           ("data.augment.affine.translation", "1e6", "must be from 0 to 1000"),
           ("data.augment.elastic.alpha", "5000", "must be from 0 to 1000")]


@pytest.mark.parametrize("key, value, words", AUGMENT)
def test_augment_range_errors_name_set_or_the_file(run, tmp_path, key, value, words):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"training": {"epochs": 1}}))
    result = run("train", config, "--out", tmp_path / "r", "--set", f"{key}={value}")
    assert_one_line_error(result, 2, f"Error: --set {key}: {words}")
    section, *rest = key.split(".")
    raw: dict = {}
    node = raw
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = yaml.safe_load(value)
    config.write_text(yaml.safe_dump({section: raw}))
    result = run("train", config, "--out", tmp_path / "r")
    assert_one_line_error(result, 2, f"Error: {config}: {key}: {words}")
    assert not (tmp_path / "r").exists()


def test_checks_against_the_data_name_the_source(run, tmp_path):
    """Checks made once the data is read (a network too large for memory, distortions of images
    that are not 2-D) say where the value came from too."""
    data = tmp_path / "flat"
    data.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(data / f"{prefix}-images-idx3-ubyte.gz", np.zeros((120, 12), np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte.gz", np.arange(120, dtype=np.uint8) % 2)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(quick(data)))
    result = run("train", config, "--out", tmp_path / "r",
                 "--set", "data.augment.affine.rotation=10")
    assert_one_line_error(result, 2, "--set data.augment.affine.rotation: data.augment: images "
                          "of shape (12,) cannot be distorted")
    config.write_text(yaml.safe_dump(quick(data, data={"augment": {"affine": {"shear": 5}}})))
    result = run("train", config, "--out", tmp_path / "r")
    assert_one_line_error(result, 2, f"{config}: data.augment: images of shape (12,)")
    assert not (tmp_path / "r").exists()


def test_a_config_keeps_its_source_through_copies_and_pickles():
    import copy
    import pickle

    config = config_from_dict({"training": {"epochs": 2}}, "here.yaml", ["training.epochs"])
    for kept in (config, copy.deepcopy(config), pickle.loads(pickle.dumps(config))):
        assert kept.where("training.epochs") == "--set training.epochs"
        assert kept.where("model.init.scale") == "here.yaml: model.init.scale"


# --------------------------------------------------------------------------- 16: shape, plot,
# predict


@pytest.mark.parametrize("shape, words", [
    ("99999999999x99999999999", ["too large", "at most 2,147,483,647"]),
    ("2147483648x1", ["too large", "at most 2,147,483,647"]),
    ("100000x100000", ["too large", "10,000,000,000 pixels", "2,147,483,648"]),
])
def test_import_csv_shapes_too_large_say_so(run, tmp_path, shape, words):
    source = tmp_path / "d.csv"
    source.write_text("1,0,0,0,0\n")
    result = run("data", "import-csv", source, "--to", tmp_path / "o", "--shape", shape)
    assert_one_line_error(result, 2, f"image shape {shape}", *words)
    assert "joined by x" not in result.stderr
    assert not (tmp_path / "o").exists()


ESCAPED = "esc\x1b[31mred"


@pytest.mark.parametrize("names", [["huge"], [ESCAPED], ["huge", ESCAPED, "plain"],
                                   ["minus", "huge"]])
def test_plot_of_huge_values_and_an_escape_in_a_name_shows_no_warning(run, tmp_path, small_run,
                                                                       names):
    """A loss of 1e308 (or -1e308) is drawn clipped at 1e300, a name with an escape character
    as it is: no warning, no traceback."""
    import shutil

    runs = []
    for name in names:
        runs.append(tmp_path / name)
        shutil.copytree(small_run, runs[-1])
        if name in ("huge", "minus"):
            metrics = runs[-1] / "metrics.jsonl"
            records = [json.loads(line) for line in metrics.read_text().splitlines()]
            value = 1e308 if name == "huge" else -1.7e308
            records[-1].update(train_loss=value, val_loss=value)
            metrics.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run("plot", *runs, "--out", tmp_path / "curves.png")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "" and (tmp_path / "curves.png").stat().st_size > 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_predict_counts_fifos_and_dangling_or_device_links_as_skipped(run, tmp_path, small_run):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    os.mkfifo(folder / "pipe.png")
    os.mkfifo(folder / "pipe")
    (folder / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "null").symlink_to("/dev/null")
    result = run("predict", small_run, folder)
    assert_one_line_error(result, 1, "no image files in", "skipped 4 files that are not an image")
    picture = np.zeros((40, 30), np.uint8)
    picture[10:30, 12:18] = 255
    Image.fromarray(picture).save(folder / "one.png")
    result = run("predict", small_run, folder)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("note: skipped 4 files that are not an image")
    assert "one.png" in result.stdout

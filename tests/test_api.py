"""The Python API (nnctl.api) gives what the commands give: the same checkpoints from
`nnctl.train` as from `nnctl train`, the same evaluation as `nnctl evaluate --json`, the same
probabilities as `nnctl predict --json`, the same errors; `import nnctl` stays light; and the
runnable Python examples of the docs run.

A block of Python in README.md or docs/**/*.md is runnable when its first line is `import nnctl`:
the runnable blocks of a page run in order, as one program, in a directory of their own holding
the repository's configs/ and data/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import checkpoints
from PIL import Image

import nnctl
from nnctl.cli import cli
from nnctl.core.network import Network
from nnctl.io.config import Config, DataConfig
from nnctl.io.examples import data_paths
from nnctl.io.idx import read_examples
from nnctl.io.images import read_image
from nnctl.io.records import dumps
from nnctl.tasks.predict import preprocess

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "mlp-300.yaml"
QUICK = {"data.limit": 2000, "data.validation": 500, "training.epochs": 1}
QUICK_SET = [f"{key}={value}" for key, value in QUICK.items()]


def cli_run(*args: object):
    """`nnctl ARGS` (in this process) -> click Result, stdout and stderr apart."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def sets(overrides: list[str]) -> list[str]:
    return [word for item in overrides for word in ("--set", item)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, nnctl.TrainResult]:
    """configs/mlp-300.yaml on a subset, trained by `nnctl train` and by nnctl.train."""
    root = tmp_path_factory.mktemp("api")
    done = cli_run("train", CONFIG, "--out", root / "cli", "--quiet", *sets(QUICK_SET))
    assert done.exit_code == 0, done.stderr
    return root / "cli", nnctl.train(CONFIG, out=root / "api", overrides=QUICK)


@pytest.fixture(scope="module")
def model(runs) -> nnctl.Model:
    return nnctl.load(runs[1].run_dir)


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    paths = data_paths(DataConfig())
    return read_examples(paths["test_images"], paths["test_labels"])


def test_train_writes_the_checkpoints_nnctl_train_writes(runs):
    cli_dir, result = runs
    assert set(checkpoints(cli_dir)) == {"best.npz", "epoch-000.npz", "epoch-001.npz", "last.npz"}
    assert checkpoints(result.run_dir) == checkpoints(cli_dir)
    assert (result.run_dir / "config.yaml").read_bytes() == (cli_dir / "config.yaml").read_bytes()
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert (result.test_accuracy, result.best_epoch) == (summary["test_accuracy"], 1)
    assert result.stop_reason == summary["stop_reason"] == "reached training.epochs = 1"
    assert [record["epoch"] for record in result.history] == [1]
    assert "history" not in repr(result) and str(result.run_dir) in repr(result)


def test_a_dict_config_with_set_strings_trains_the_same_run(runs, tmp_path):
    raw = yaml.safe_load(CONFIG.read_text())
    result = nnctl.train(raw, out=tmp_path / "dict", overrides=QUICK_SET)
    assert checkpoints(result.run_dir) == checkpoints(runs[0])
    assert raw == yaml.safe_load(CONFIG.read_text())  # the caller's dict is left as it was


def test_train_resumes_a_run_in_place(tmp_path):
    copy = tmp_path / "resumed"
    assert cli_run("train", CONFIG, "--out", copy, "--quiet", *sets(QUICK_SET)).exit_code == 0
    result = nnctl.train(out=copy, resume=True, overrides={"training.epochs": 2})
    assert result.best_epoch in (1, 2) and [r["epoch"] for r in result.history] == [1, 2]
    assert "epoch-002.npz" in checkpoints(copy)


@pytest.mark.slow
def test_evaluate_is_nnctl_evaluate_json(runs, model):
    run_dir = runs[1].run_dir
    for split in ("test", "validation"):
        shown = cli_run("evaluate", run_dir, "--split", split, "--json")
        assert shown.exit_code == 0, shown.stderr
        result = model.evaluate(split=split)
        assert result == nnctl.evaluate(run_dir, split=split)
        assert json.loads(dumps(result)) == json.loads(shown.stdout)  # as the command prints it
        assert result["split"] == split and result["checkpoint"] == str(model.path)


def test_predict_gives_the_classes_evaluate_counts(model, mnist_test):
    images, labels = mnist_test
    predicted = model.predict(images)
    assert predicted.shape == (len(images),) and predicted.dtype.kind == "i"
    result = model.evaluate()
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, predicted), 1)
    assert confusion.tolist() == result["confusion_matrix"]
    proba = model.predict_proba(images)
    assert proba.shape == (len(images), 10) and proba.dtype == np.float64
    for worst in result["worst"]:
        n = worst["index"]
        assert predicted[n] == worst["predicted"]
        assert proba[n, worst["predicted"]] == worst["output"]  # a softmax output: the same
    # the same numbers from floats in [0, 1], flat rows, one image
    np.testing.assert_array_equal(model.predict_proba(images[:500] / 255.0), proba[:500])
    np.testing.assert_array_equal(model.predict(images[:50].reshape(50, -1)), predicted[:50])
    assert model.predict(images[3]).tolist() == [predicted[3]]
    assert model.predict_proba(images[:0]).shape == (0, 10)


def test_predict_proba_is_nnctl_predict_json_on_image_files(model, mnist_test, tmp_path):
    """`nnctl predict` prepares files as MNIST was made; given what it prepared, predict_proba
    gives its probabilities. MNIST digits themselves come back nearly unchanged, so the classes
    of the raw digits are mostly those of the files (tests/core/test_digits.py)."""
    images, _ = mnist_test
    files = []
    for i in range(0, 10_000, 250):
        files.append(tmp_path / f"{i:05d}.png")
        Image.fromarray(images[i]).save(files[-1])
    shown = cli_run("predict", model.path, *files, "--json")
    assert shown.exit_code == 0, shown.stderr
    objects = [json.loads(line) for line in shown.stdout.splitlines()]
    seen = np.stack([preprocess(read_image(f), model.image_shape) for f in files])
    proba = model.predict_proba(seen)
    for o, row, label in zip(objects, proba, model.predict(seen)):
        assert o["prediction"] == label
        ranked = [o["prediction"]] + [c["digit"] for c in o["candidates"]]
        probabilities = [o["probability"]] + [c["probability"] for c in o["candidates"]]
        assert json.loads(dumps(row[ranked].tolist())) == probabilities
    raw = model.predict(images[::250])
    assert (raw == [o["prediction"] for o in objects]).mean() >= 0.95


@pytest.mark.slow
def test_a_deskewed_model_makes_its_inputs_as_evaluate_does(mnist_test, tmp_path):
    config = {"model": {"hidden": [30]}, "training": {"epochs": 1},
              "data": {"deskew": True, "limit": 2000, "validation": 500}}
    model = nnctl.load(nnctl.train(config, out=tmp_path / "deskewed").run_dir)
    assert model.preprocessing["deskew"] is True and "deskewed" in repr(model)
    images, labels = mnist_test
    confusion = np.zeros((10, 10), int)
    np.add.at(confusion, (labels, model.predict(images)), 1)
    shown = cli_run("evaluate", model.path, "--json")
    assert confusion.tolist() == json.loads(shown.stdout)["confusion_matrix"]


def test_the_model_shows_its_parts(runs, model):
    assert model.path == runs[1].run_dir / "checkpoints" / "best.npz"
    assert isinstance(model.network, Network) and isinstance(model.config, Config)
    arrays = [*model.network.weights, *model.network.biases]
    assert all(type(a) is np.ndarray for a in arrays)  # numpy's own, no numba types
    assert model.network.sizes == [784, 300, 10] and model.config.model.hidden == [300]
    assert (model.classes, model.image_shape) == (10, (28, 28))
    assert repr(model) == (f"Model({str(model.path)!r}: 784-300-10 sigmoid softmax, epoch 1, "
                           "28x28 images)")
    same = nnctl.load(model.path)  # a checkpoint file rather than its run
    assert same.path == model.path and same.metadata == model.metadata


BAD_IMAGES = {
    "a wrong shape": (np.zeros((2, 27, 28), np.uint8),
                      ("images of shape (2, 27, 28): expected one image (28, 28), a batch "
                       "(N, 28, 28) or flat rows (N, 784)")),
    "pixels as floats": (np.full((28, 28), 255.0),
                         ("images: floats from 255 to 255, expected [0, 1] (pixel / 255; or give "
                          "uint8 pixels 0..255)")),
    "NaN": (np.full((3, 784), np.nan), "images: 2,352 NaN or infinite values"),
    "integers out of range": (np.arange(-1, 783).reshape(28, 28),
                              "images: integers from -1 to 782, expected 0..255"),
    "text": ("a digit", ("images of dtype <U7: expected uint8 pixels (0..255) or floats in "
                         "[0, 1]")),
    "booleans": (np.zeros((28, 28), bool),
                 "images of dtype bool: expected uint8 pixels (0..255) or floats in [0, 1]"),
    "a ragged list": ([[0, 1], [2]], "images: not an array of numbers"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_images_are_refused_naming_what_was_given(model, case):
    images, message = BAD_IMAGES[case]
    for method in (model.predict, model.predict_proba):
        with pytest.raises(nnctl.DataError) as raised:
            method(images)
        assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def _not_a_run(tmp_path: Path) -> Path:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    return tmp_path / "notes"


def _a_run(tmp_path: Path) -> Path:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / ".nnctl-run").write_text("{}")  # as nnctl marks a run directory
    return tmp_path / "r"


# (what the API is asked, the same asked of the command), in tmp_path
SAME_ERRORS = {
    "an unknown key": (lambda t: nnctl.train(CONFIG, out=t / "r", overrides={"training.epoch": 3}),
                       lambda t: ["train", CONFIG, "--out", t / "r", "--set", "training.epoch=3"]),
    "a bad value": (lambda t: nnctl.train(CONFIG, out=t / "r",
                                          overrides=["training.learning_rate=-1"]),
                    lambda t: ["train", CONFIG, "--out", t / "r", "--set",
                               "training.learning_rate=-1"]),
    "a missing config": (lambda t: nnctl.train(t / "missing.yaml"),
                         lambda t: ["train", t / "missing.yaml"]),
    "a directory that is not a run": (lambda t: nnctl.train(CONFIG, out=_not_a_run(t)),
                                      lambda t: ["train", CONFIG, "--out", _not_a_run(t)]),
    "nothing to resume": (lambda t: nnctl.train(out=t / "none", resume=True),
                          lambda t: ["train", "--resume", t / "none"]),
    "a missing checkpoint": (lambda t: nnctl.load(t / "missing.npz"),
                             lambda t: ["evaluate", t / "missing.npz"]),
    "a directory without checkpoints": (lambda t: nnctl.load(t),
                                        lambda t: ["evaluate", t]),
    "a config file for a checkpoint": (lambda t: nnctl.evaluate(CONFIG),
                                       lambda t: ["evaluate", CONFIG]),
    "a config file loaded as a model": (lambda t: nnctl.load(CONFIG),
                                        lambda t: ["evaluate", CONFIG]),
    "a run given as the config": (lambda t: nnctl.train(_a_run(t)),
                                  lambda t: ["train", _a_run(t)]),
}


@pytest.mark.parametrize("case", list(SAME_ERRORS))
def test_errors_are_the_commands(case, tmp_path_factory):
    ask_api, ask_cli = SAME_ERRORS[case]
    api_dir, cli_dir = tmp_path_factory.mktemp("api"), tmp_path_factory.mktemp("cli")
    with pytest.raises(nnctl.NnctlError) as raised:
        ask_api(api_dir)
    shown = cli_run(*ask_cli(cli_dir))
    assert shown.exit_code == raised.value.exit_code != 0
    assert shown.stderr == f"Error: {str(raised.value).replace(str(api_dir), str(cli_dir))}\n"


def test_overrides_take_python_and_numpy_values():
    from nnctl.api import _override_texts, _read_config

    overrides = {"model.hidden": (np.int64(30), 20), "training.learning_rate": np.float32(0.5),
                 "data.augment": {"elastic": {"sigma": 4.0, "alpha": 34}}, "data.deskew": True}
    texts = _override_texts(overrides)
    assert texts == ["model.hidden=[30, 20]", "training.learning_rate=0.5",
                     "data.augment={elastic: {sigma: 4.0, alpha: 34}}", "data.deskew=true"]
    config = _read_config(CONFIG, texts)
    assert (config.model.hidden, config.training.learning_rate) == ([30, 20], 0.5)
    assert (config.data.augment.elastic.sigma, config.data.deskew) == (4.0, True)
    with pytest.raises(nnctl.ConfigError, match=r"^--set data.dir: a object is not a config"):
        _override_texts({"data.dir": object()})


@pytest.mark.parametrize("arguments,words", [
    ({}, "give a config to train, or resume=True"),
    ({"resume": True}, "resume continues the run in `out` in place"),
    ({"resume": True, "out": "runs/x", "force": True}, "no force"),
    ({"resume": True, "out": "runs/x", "config": {}}, "not a dict"),
])
def test_train_refuses_what_the_command_line_cannot_say(arguments, words):
    with pytest.raises(nnctl.ConfigError, match=re.escape(words)):
        nnctl.train(**arguments)


def test_import_nnctl_is_light_and_exports_the_api(tmp_path):
    program = ("import sys, nnctl\n"
               "heavy = {'numpy', 'click', 'rich', 'yaml', 'nnctl.api'} & set(sys.modules)\n"
               "print(sorted(heavy))\n"
               "from nnctl import *\n"
               "print(train.__module__, Model.__name__, issubclass(TrainingDiverged, NnctlError))\n"
               "print(nnctl.load is load, 'numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", program], check=False, cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH":
                                                               str(ROOT)})
    assert done.stderr == "" and done.stdout.splitlines() == ["[]", "nnctl.api Model True",
                                                              "True True"]
    with pytest.raises(AttributeError, match="no attribute 'fit'"):
        nnctl.fit  # noqa: B018 - the attribute is the test


# ------------------------------------------------------------------ the docs' examples

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def runnable_blocks(text: str) -> list[str]:
    """The page's ```python blocks that start with `import nnctl`, in order."""
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    return [block for block in blocks if block.startswith("import nnctl\n")]


def test_the_api_pages_have_runnable_examples():
    pages = {page.name: runnable_blocks(page.read_text(encoding="utf-8")) for page in PAGES}
    assert pages["api.md"] and pages["python.md"]
    assert runnable_blocks("```python\nimport nnctl\nx = 1\n```\n```python\nx = 2\n```\n") == [
        "import nnctl\nx = 1\n"]


@pytest.mark.parametrize("page", [p for p in PAGES if runnable_blocks(p.read_text("utf-8"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.slow
def test_the_runnable_examples_of_the_docs_run(page, tmp_path):
    for name in ("configs", "data"):
        (tmp_path / name).symlink_to(ROOT / name)
    blocks = runnable_blocks(page.read_text(encoding="utf-8"))
    (tmp_path / "page.py").write_text("\n".join(blocks), encoding="utf-8")
    done = subprocess.run([sys.executable, "page.py"], check=False, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr

"""The CLI end to end on a small subset of the bundled MNIST: train -> evaluate ->
inspect-weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from PIL import Image

from nnctl.io.checkpoint import load_checkpoint

METRIC_KEYS = {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate",
               "seconds", "examples_per_second"}


def test_train_evaluate_inspect_mlp(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": [32]},
                           "training": {"epochs": 2, "learning_rate": 0.1}})
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output + result.stderr
    assert "test accuracy" in result.stdout

    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["best.npz", "epoch-000.npz", "epoch-001.npz", "epoch-002.npz", "last.npz"]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    assert all(METRIC_KEYS <= set(r) for r in lines)
    assert lines[-1]["val_accuracy"] > 0.6  # 1500 examples, 2 epochs: well above chance (0.1)
    summary = json.loads((out / "summary.json").read_text())
    saved = (out / "config.yaml").read_text()
    assert "hidden:\n  - 32" in saved or "hidden: [32]" in saved

    network, meta = load_checkpoint(out / "checkpoints" / "last.npz")
    assert network.sizes == [784, 32, 10]
    assert meta["epoch"] == 2 and meta["image_shape"] == [28, 28] and meta["classes"] == 10
    assert meta["preprocessing"]["divide_by"] == 255.0

    evaluated = run("evaluate", out, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)  # stdout holds the JSON object and nothing else
    assert report["accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert abs(report["loss"] - summary["test_loss"]) < 1e-5
    assert report["error_rate"] == pytest.approx(1 - report["accuracy"], abs=1e-6)
    C = np.array(report["confusion_matrix"])
    assert C.shape == (10, 10) and C.sum() == 10_000
    assert np.trace(C) / C.sum() == report["accuracy"]
    assert [row["support"] for row in report["per_class"]] == C.sum(axis=1).tolist()

    validation = json.loads(run("evaluate", out / "checkpoints" / "best.npz", "--split",
                                "validation", "--json").stdout)
    assert validation["examples"] == 500
    best_epoch = summary["best_epoch"]
    assert best_epoch in (1, 2)  # any trained epoch beats the random initial weights
    assert validation["accuracy"] == lines[best_epoch - 1]["val_accuracy"]

    table = run("evaluate", out)
    assert table.exit_code == 0 and "confusion matrix" in table.stdout

    figures = tmp_path / "figures"
    drawn = run("inspect-weights", out, "--out", figures, "--units", "16")
    assert drawn.exit_code == 0, drawn.stderr
    assert Image.open(figures / "hidden-units.png").size[0] > 16 * 28
    gif = Image.open(figures / "weights-by-epoch.gif")
    assert gif.n_frames == 3  # epochs 0, 1, 2


def test_single_layer_templates(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": []},
                           "training": {"epochs": 1, "learning_rate": 0.05}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    figures = tmp_path / "figures"
    result = run("inspect-weights", out / "checkpoints" / "last.npz", "--out", figures,
                 "--zoom", "2")
    assert result.exit_code == 0, result.stderr
    for k in range(10):
        assert (figures / f"template-{k}.png").exists()
    grid = np.asarray(Image.open(figures / "templates.png").convert("RGB")).astype(int)
    assert grid.shape[1] >= 10 * 28 * 2
    # a diverging map: the trained templates have both red (positive) and blue (negative) pixels
    red = (grid[..., 0] > grid[..., 2] + 60).sum()
    blue = (grid[..., 2] > grid[..., 0] + 60).sum()
    assert red > 100 and blue > 100
    assert not (figures / "weights-by-epoch.gif").exists()  # a lone checkpoint has no history


@pytest.mark.slow
def test_same_seed_gives_identical_checkpoints(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": [16]}, "training": {"epochs": 2, "seed": 7}})
    for name in ("a", "b"):
        assert run("train", config, "--out", tmp_path / name, "--quiet").exit_code == 0
    for path in sorted((tmp_path / "a" / "checkpoints").iterdir()):
        assert (path.read_bytes()
                == (tmp_path / "b" / "checkpoints" / path.name).read_bytes()), path.name
    other = write_config({"model": {"hidden": [16]}, "training": {"epochs": 2, "seed": 8}},
                         "other.yaml")
    assert run("train", other, "--out", tmp_path / "c", "--quiet").exit_code == 0
    assert ((tmp_path / "c/checkpoints/last.npz").read_bytes()
            != (tmp_path / "a/checkpoints/last.npz").read_bytes())


def test_config_error_exits_2_and_writes_nothing(run, write_config, tmp_path):
    config = write_config({"training": {"learning_rat": 0.1}})
    out = tmp_path / "run"
    result = run("train", config, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert "training.learning_rat" in result.stderr and "training.learning_rate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()

    bad_set = run("train", write_config({}), "--out", out, "--set", "model.hidden=[-3]")
    assert bad_set.exit_code == 2 and "model.hidden" in bad_set.stderr and not out.exists()
    no_equals = run("train", write_config({}), "--out", out, "--set", "training.epochs")
    assert no_equals.exit_code == 2 and "key=value" in no_equals.stderr


def test_out_dir_not_ours_is_refused_even_with_force(run, write_config, tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    for extra in ((), ("--force",)):
        result = run("train", config, "--out", out, "--quiet", *extra)
        assert result.exit_code == 1 and "not empty" in result.stderr, result.stderr
        assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


def test_force_replaces_only_a_run_of_ours(run, write_config, tmp_path):
    out = tmp_path / "run"
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    (out / "notes.txt").write_text("mine")
    (out / "checkpoints" / "keep.npz").write_bytes(b"mine")
    again = run("train", config, "--out", out, "--quiet")
    assert again.exit_code == 1 and "--resume" in again.stderr
    forced = run("train", config, "--out", out, "--force", "--quiet")
    assert forced.exit_code == 0 and (out / "checkpoints" / "best.npz").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "checkpoints" / "keep.npz").read_bytes() == b"mine"


def test_default_run_dir_never_overwrites(run, write_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 0}}, "quick.yaml")
    for _ in range(2):
        assert run("train", config, "--quiet").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["quick", "quick-2"]


def test_evaluate_errors_are_one_line(run, tmp_path, write_config, tiny_dataset):
    missing = run("evaluate", tmp_path / "nope.npz")
    assert (missing.exit_code == 1 and missing.stderr.startswith("Error: ")
            and "nope.npz" in missing.stderr)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    assert run("evaluate", junk).exit_code == 1
    assert run("evaluate", tmp_path).exit_code == 1  # a directory that is not a run

    config = write_config({"model": {"hidden": []}, "training": {"epochs": 0}})
    out = tmp_path / "run"
    assert run("train", config, "--out", out, "--quiet").exit_code == 0
    other = tiny_dataset(shape=(8, 6))
    shape = run("evaluate", out, "--data-dir", other)
    assert shape.exit_code == 1 and "8x6" in shape.stderr and "28x28" in shape.stderr
    half = run("evaluate", out, "--images", other / "t10k-images-idx3-ubyte.gz")
    assert half.exit_code == 1 and "--labels" in half.stderr


def test_other_image_shape_end_to_end(run, write_config, tiny_dataset, tmp_path):
    directory = tiny_dataset(shape=(8, 6), classes=3)
    config = write_config({"model": {"hidden": [8]},
                           "training": {"epochs": 3, "learning_rate": 0.2},
                           "data": {"dir": str(directory), "limit": None, "validation": 50}})
    out = tmp_path / "run"
    result = run("train", config, "--out", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    network, meta = load_checkpoint(out / "checkpoints" / "best.npz")
    assert network.sizes == [48, 8, 3] and meta["image_shape"] == [8, 6]
    report = json.loads(run("evaluate", out, "--json").stdout)
    assert report["accuracy"] > 0.9 and len(report["confusion_matrix"]) == 3
    assert run("inspect-weights", out, "--out", tmp_path / "fig").exit_code == 0
    assert Image.open(tmp_path / "fig" / "hidden-units.png").size[0] > 8 * 6


@pytest.mark.slow
def test_plot_and_evaluate_figure(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": [16]}, "training": {"epochs": 2}})
    runs = []
    for name in ("a", "b"):
        assert run("train", config, "--out", tmp_path / name, "--quiet", "--set",
                   f"training.seed={len(runs)}").exit_code == 0
        runs.append(tmp_path / name)
    curves = tmp_path / "fig" / "curves.png"
    result = run("plot", *runs, "--out", curves)
    assert result.exit_code == 0, result.stderr
    picture = np.asarray(Image.open(curves).convert("RGB")).astype(int)
    assert picture.shape[1] > 800 and (picture.std(axis=(0, 1)) > 10).all()  # not a blank canvas

    figure = tmp_path / "fig" / "confusion.png"
    evaluated = run("evaluate", runs[0], "--figure", figure, "--json")
    assert evaluated.exit_code == 0 and Image.open(figure).size[0] > 800
    report = json.loads(evaluated.stdout)
    worst = report["worst"]
    assert worst and all(w["true"] != w["predicted"] for w in worst)
    assert [w["true_output"] for w in worst] == sorted(w["true_output"] for w in worst)
    # the prediction is the largest output
    assert all(w["output"] > w["true_output"] for w in worst)
    wrong = sum(report["confusion_matrix"][i][j] for i in range(10) for j in range(10) if i != j)
    assert len(worst) == min(wrong, 50)

    not_a_run = run("plot", tmp_path / "fig", "--out", tmp_path / "x.png")
    assert not_a_run.exit_code == 1 and "metrics.jsonl" in not_a_run.stderr


def test_help_has_an_example_for_every_command_and_no_colour_off_a_terminal(run):
    from nnctl.cli import cli

    context = click.Context(cli)
    commands = [[name] for name in cli.list_commands(context) if name != "data"]
    commands += [["data", name] for name in cli.get_command(context, "data").commands]
    for command in commands:
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, command
    assert run("--version").stdout.startswith("nnctl, version ")
    table = run("data", "info", Path(__file__).resolve().parents[2] / "data" / "mnist")
    assert table.exit_code == 0 and "\x1b[" not in table.stdout  # not a terminal: no colour codes


# Runs `nnctl ARGS...` in a fresh interpreter, then prints the status, the heavy libraries and the
# command modules it loaded.
LOADED = ("import sys\nfrom nnctl.cli import main\nsys.argv = ['nnctl', *sys.argv[1:]]\n"
          "status = main()\nloaded = {m.split('.')[0] for m in sys.modules}\n"
          "heavy = {'numpy', 'numba', 'matplotlib', 'ray'} & loaded\n"
          "commands = [m for m in sys.modules if m.startswith('nnctl.cli.')]\n"
          "print(status, sorted(heavy), sorted(commands))")


def test_help_loads_each_command_module_but_not_the_library(tmp_path):
    """The root group is lazy: --help imports the command modules (each a line in the list) but
    no numpy, numba, matplotlib or Ray; a command loads its own module only."""
    from nnctl.cli import COMMANDS, cli

    context = click.Context(cli)
    assert cli.list_commands(context) == sorted(COMMANDS)
    assert all(cli.get_command(context, name).name == name for name in COMMANDS)
    modules = sorted(where.split(":")[0] for where in COMMANDS.values())
    for args, loaded in ((["--help"], modules), (["train", "--help"], ["nnctl.cli.train"])):
        done = subprocess.run([sys.executable, "-c", LOADED, *args], cwd=tmp_path,
                              capture_output=True, text=True, check=True)
        assert done.stdout.splitlines()[-1] == f"0 [] {loaded}", done.stdout

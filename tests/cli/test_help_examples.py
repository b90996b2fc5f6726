"""Every example of every `--help` runs as a user types it, in a directory prepared with what it
names (runs/default, my-digits/, data/mnist, CSV files...). Training-heavy examples get cheap
limits added explicitly (LIMITS); examples that would reach the internet or start Ray or the
tour's many runs are run up to the library call that would (STOPPED_AT), which is recorded."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import click
import numpy as np
import pytest
from PIL import Image

from nnctl.cli import cli

REPO = Path(__file__).resolve().parents[2]
# added to an example that trains (the example stays as typed, these come after it)
LIMITS = ("--set", "data.limit=600", "--set", "data.validation=100")
# examples run up to this library function, replaced by a recorder: Ray, the internet, the tour
STOPPED_AT = {"sweep": ("nnctl.sweep.runner", "run_sweep"),
              "fetch": ("nnctl.io.datasets", "fetch"),
              "tour": ("nnctl.tour", "run_tour")}


def help_examples() -> list[tuple[str, str]]:
    """(command path, example line) for every `nnctl` line of every help's Example block."""
    found = []

    def visit(command: click.Command, name: str) -> None:
        lines = (command.help or "").splitlines()
        for k, line in enumerate(lines):
            if line.strip() in ("Example:", "Examples:"):
                for example in lines[k + 1:]:
                    if not example.strip():
                        break
                    found.append((name, example.strip()))
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for sub in command.list_commands(ctx):
                visit(command.get_command(ctx, sub), f"{name} {sub}".strip())

    visit(cli, "")
    return found


EXAMPLES = help_examples()
NNCTL = [(name, line) for name, line in EXAMPLES if line.startswith("nnctl ")]
SERVE = [line for name, line in EXAMPLES if name == "serve"]


class Reached(Exception):
    """Raised by a STOPPED_AT function in place of its work: the example got that far."""


def test_every_help_has_examples_that_are_collected():
    named = {name for name, _ in NNCTL}
    assert {"", "train", "evaluate", "predict", "sweep", "data augment-preview"} <= named
    # the only lines that are not nnctl's: the tour's screenshot, serve's curl (run below)
    assert [line.split()[0] for _, line in EXAMPLES if not line.startswith("nnctl ")] == [
        "curl", "chromium"]


@pytest.fixture(scope="module")
def place(tmp_path_factory, digits) -> Path:
    """A directory with what the examples name: configs/, data/mnist, runs/default (and the
    other runs they name, copies of it), my-digits/ of MNIST test digits, CSV files."""
    from nnctl.io.config import config_from_dict
    from nnctl.tasks.train import train

    root = tmp_path_factory.mktemp("examples")
    (root / "configs").symlink_to(REPO / "configs")
    (root / "data").mkdir()
    (root / "data" / "mnist").symlink_to(REPO / "data" / "mnist")
    config = config_from_dict({"model": {"hidden": [8]}, "training": {"epochs": 2},
                               "data": {"limit": 600, "validation": 100}}, "default")
    train(config, root / "runs" / "default")
    for name in ("mlp-300", "mlp-300-100", "single-layer-delta", "sweep/a", "sweep/b"):
        shutil.copytree(root / "runs" / "default", root / "runs" / name)
    images, labels = digits
    (root / "my-digits").mkdir()
    for k in range(3):
        Image.fromarray(255 - images[k]).save(root / "my-digits" / f"{labels[k]}-{k}.png")
    Image.fromarray(255 - images[3]).save(root / "digit.png")
    rows = np.column_stack([labels[:20], images[:20].reshape(20, -1)])
    for name in ("mnist_train.csv", "mnist_test.csv"):
        np.savetxt(root / name, rows, fmt="%d", delimiter=",")
    sweep = root / "runs" / "lr"  # what --resume runs/lr continues (run_sweep is recorded)
    sweep.mkdir()
    (sweep / ".nnctl-sweep").write_text("")
    # a sweep still at its start, as report shows it: its trials listed, none done
    (sweep / "trials").mkdir()
    (sweep / "sweep.json").write_text(json.dumps({
        "metric": "val_accuracy", "parameters": {"training.learning_rate": {"values": [0.1]}},
        "trials": [{"id": "p000-s0"}]}))
    return root


def run_example(line: str, cwd: Path, monkeypatch) -> tuple[int, str, BaseException | None]:
    """The example in `cwd`, in this process: (exit status, output, the exception it ended with:
    Reached if it came to a STOPPED_AT function)."""
    args = shlex.split(line)[1:]
    redirect = None
    if ">" in args:
        args, redirect = args[:args.index(">")], args[args.index(">") + 1]
    if args[0] == "train" and "--keys" not in args and "--resume" not in args:
        args += LIMITS
    def reached(*args, **kwargs):
        raise Reached(args, kwargs)

    for module, name in STOPPED_AT.values():
        monkeypatch.setattr(f"{module}.{name}", reached)
    monkeypatch.chdir(cwd)
    result = click.testing.CliRunner().invoke(cli, args)
    if redirect:
        Path(redirect).write_text(result.stdout)
    return result.exit_code, result.output, result.exception


COMMANDS = sorted({name for name, _ in NNCTL} - {"serve"})


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=[name or "nnctl" for name in COMMANDS])
def test_each_example_runs(place, tmp_path, monkeypatch, command):
    """A command's examples, in order, in one copy of the place (the second may continue what
    the first made: train --resume runs/mlp)."""
    cwd = tmp_path / "here"
    shutil.copytree(place, cwd, symlinks=True)
    for line in [line for name, line in NNCTL if name == command]:
        status, output, raised = run_example(line, cwd, monkeypatch)
        args = line.split()[1:]
        if args[0] in ("sweep", "tour") or args[:2] == ["data", "fetch"]:
            assert isinstance(raised, Reached), (line, status, output, raised)  # parsed, reached
        else:
            assert status == 0, (line, status, output)


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_serve_examples_run(place, tmp_path):
    """`nnctl serve runs/default` (on a free port: --port 0 added) answers the curl example."""
    serve, curl = SERVE
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    process = subprocess.Popen([sys.executable, "-m", "nnctl", *shlex.split(serve)[1:],
                                "--port", "0"], cwd=place, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split(" at ")[1].split()[0]
        words = shlex.split(curl)
        data = (place / words[words.index("--data-binary") + 1].lstrip("@")).read_bytes()
        header = words[words.index("-H") + 1].split(": ")
        target = words[-1].replace("http://127.0.0.1:8000/", url)
        answer = urllib.request.urlopen(urllib.request.Request(
            target, data=data, headers={header[0]: header[1]}), timeout=60).read()
        assert b'"prediction"' in answer
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 130

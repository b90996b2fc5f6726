"""The test set of digits that are not MNIST's (data/own-digits-kinds, made by
tools/make_own_digits.py) and how `predict` reads it, kind by kind (tools/own_digits.py)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
KINDS = ROOT / "data" / "own-digits-kinds"


def tool(name: str):
    """A script of tools/ imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_is_deterministic_and_made_the_committed_set(tmp_path):
    make = tool("make_own_digits")
    some = {"hand": 1, "photo": 1, "alpha-white": 1}
    first = make.generate(tmp_path / "a", kinds=some)
    second = make.generate(tmp_path / "b", kinds=some)
    assert first == second and len(first) == 30
    for row in first:
        assert (tmp_path / "a" / row["file"]).read_bytes() == \
            (tmp_path / "b" / row["file"]).read_bytes()
    with open(KINDS / "labels.csv", newline="") as f:
        committed = list(csv.DictReader(f))
    assert len(committed) == 10 * sum(make.KINDS.values()) == 250
    assert len(list(KINDS.glob("*-*-*.*"))) == 250
    assert sum(p.stat().st_size for p in KINDS.iterdir()) < 2_000_000
    # the drawn digits (no fonts: the same on any machine) are the committed ones, pixel for pixel
    everything = make.generate(tmp_path / "all")
    assert everything == [{**r, "digit": int(r["digit"])} for r in committed]
    for row in everything:
        if row["kind"] == "hand":
            with Image.open(tmp_path / "all" / row["file"]) as mine, \
                    Image.open(KINDS / row["file"]) as theirs:
                np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


def test_photos_and_transparent_drawings_are_read_like_typeset_digits(digit_reader):
    """A small network (784-100-10, 3 epochs on 20,000 digits) reads the photo-like digits (shadow
    gradients, noise, blur, JPEG), the white digits on transparent PNGs and the low-contrast ones
    about as well as clean typeset digits (before the preparation learnt uneven light and either
    polarity of transparency: 22%, 0% and 70% with 784-300-10)."""
    own = tool("own_digits")
    kinds = own.labelled()
    wanted = {k: kinds[k] for k in ("font", "photo", "alpha-white", "low-contrast")}
    scores = own.accuracies(digit_reader, wanted)
    assert scores["font"] >= 0.8, scores
    for kind in ("photo", "alpha-white", "low-contrast"):
        assert scores[kind] >= 0.8, scores

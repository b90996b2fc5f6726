"""The docs' "Use a checkpoint without nnctl" snippet, run as written against a checkpoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import load_config
from nnctl.io.idx import read_idx
from nnctl.tasks.train import train

PAGE = Path(__file__).resolve().parent.parent / "docs" / "how-to" / "numpy-only.md"
TEST_IMAGES = (Path(__file__).resolve().parent.parent / "data" / "mnist"
               / "t10k-images-idx3-ubyte.gz")


def snippet() -> str:
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(r"<!-- numpy-only snippet -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/how-to/numpy-only.md lost its numpy-only snippet"
    return match.group(1)


@pytest.mark.parametrize("hidden,activation", [([], "sigmoid"), ([16], "relu"), ([12, 8], "tanh")])
def test_the_readme_snippet_classifies_as_nnctl_does(tmp_path, write_config, hidden, activation):
    config = load_config(write_config({"model": {"hidden": hidden, "activation": activation},
                                       "training": {"epochs": 1}}))
    train(config, tmp_path / "run")
    checkpoint = tmp_path / "run" / "checkpoints" / "best.npz"
    namespace: dict = {}
    exec(snippet(), namespace)  # noqa: S102 - the docs' own code, run as a reader would
    images = read_idx(TEST_IMAGES)[:500]
    digits = namespace["classify"](str(checkpoint), images)
    network, _meta = load_checkpoint(checkpoint)
    expected = network.forward(images.reshape(500, -1).astype(network.dtype) / 255).argmax(axis=1)
    assert digits.shape == (500,)
    # float64 here, float32 in nnctl: a near-tie may tip
    assert (digits == expected).mean() >= 0.998

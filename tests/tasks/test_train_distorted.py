"""Training on distorted images: both engines see the same distortions, and resume stays exact,
mid-epoch too (the distortions of each block of positions come from (seed, epoch, block))."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import checkpoints, sigterm_after_chunks

import nnctl.tasks.train
from nnctl.errors import Interrupted
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import config_from_dict
from nnctl.io.run_dir import resume_config
from nnctl.tasks.train import train

AUGMENT = {"elastic": {"sigma": 4.0, "alpha": 20.0},
           "affine": {"rotation": 10.0, "scale": 0.1, "shear": 10.0, "translation": 1.0}}


def config(engine: str, dtype: str = "float32", epochs: int = 2, learning_rate: float = 0.05):
    return config_from_dict(yaml.safe_load(yaml.safe_dump({
        "model": {"hidden": [16], "activation": "tanh"},
        "training": {"epochs": epochs, "engine": engine, "dtype": dtype,
                     "learning_rate": learning_rate},
        "data": {"limit": 6000, "validation": 500, "augment": AUGMENT},
    })), "test")


@pytest.mark.slow
def test_both_engines_see_the_same_distorted_images(tmp_path):
    """float64, at a learning rate where per-example SGD does not amplify rounding (see
    tests/test_engines.py): the engines agree to 1e-10 only if their inputs are the same."""
    weights = {}
    for engine in ("fused", "reference"):
        result = train(config(engine, "float64", epochs=1, learning_rate=0.01),
                       tmp_path / engine)
        weights[engine] = load_checkpoint(tmp_path / engine / "checkpoints" / "last.npz")[0]
        assert result.history[0]["train_accuracy"] > 0.5
    for A, B in zip(weights["fused"].weights, weights["reference"].weights):
        assert np.abs(A - B).max() <= 1e-10 * max(np.abs(A).max(), 1e-12)


def test_distortions_change_what_is_learned(tmp_path):
    plain = yaml.safe_load(yaml.safe_dump({"model": {"hidden": [16], "activation": "tanh"},
                                           "training": {"epochs": 1, "learning_rate": 0.05},
                                           "data": {"limit": 6000, "validation": 500}}))
    train(config_from_dict(plain, "test"), tmp_path / "plain")
    train(config("fused", epochs=1), tmp_path / "distorted")
    a = load_checkpoint(tmp_path / "plain" / "checkpoints" / "last.npz")[0].weights[0]
    b = load_checkpoint(tmp_path / "distorted" / "checkpoints" / "last.npz")[0].weights[0]
    assert not np.array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("engine,calls", [("fused", 1), ("reference", 3)])
def test_resume_mid_epoch_with_distortions_is_bit_identical(tmp_path, monkeypatch, engine,
                                                            calls):
    whole = tmp_path / "whole"
    train(config(engine), whole)
    make_engine = nnctl.tasks.train.make_engine
    sigterm_after_chunks(monkeypatch, calls)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(engine), run_dir)
    assert load_checkpoint(run_dir / "checkpoints" / "last.npz")[1]["progress"]["position"] > 0
    monkeypatch.setattr(nnctl.tasks.train, "make_engine", make_engine)
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == checkpoints(whole)


@pytest.mark.parametrize("elastic", [{"alpha": 30.0}, {"sigma": 4.0}])
def test_elastic_needs_both_sigma_and_alpha(run, write_config, tmp_path, elastic):
    config = write_config({"data": {"augment": {"elastic": elastic}}})
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "go together" in result.stderr
    assert not (tmp_path / "run").exists()

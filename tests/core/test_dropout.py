"""Dropout: both engines equal with the masks (engine/inputs.py, tested in
tests/engine/test_inputs.py), resume exact with them mid-epoch, gradcheck through them, and the
config's refusals."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import assert_one_line_error, checkpoints, sigterm_after_chunks

import nnctl.engine.reference
import nnctl.tasks.train
from nnctl.core.activations import ACTIVATIONS
from nnctl.core.dropout import Dropout, hidden_offsets
from nnctl.core.network import init_network
from nnctl.core.rules import TARGETS
from nnctl.engine import make_engine
from nnctl.engine.inputs import ChunkMasks
from nnctl.errors import Interrupted
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import data_paths, load_training_data, make_dataset
from nnctl.io.idx import read_examples
from nnctl.io.run_dir import resume_config
from nnctl.tasks.gradcheck import check, verdict
from nnctl.tasks.train import train

SIZES = [784, 12, 8, 10]


def config(engine: str = "fused", dtype: str = "float32", epochs: int = 2,
           learning_rate: float = 0.05, dropout=None, **data):
    return config_from_dict(yaml.safe_load(yaml.safe_dump({
        "model": {"hidden": [16, 12], "activation": "tanh"},
        "training": {"epochs": epochs, "engine": engine, "dtype": dtype,
                     "learning_rate": learning_rate,
                     "dropout": dropout or {"input": 0.2, "hidden": 0.5}},
        "data": {"limit": 6000, "validation": 500, **data},
    })), "test")


def test_hidden_offsets_lay_the_layers_side_by_side():
    assert list(hidden_offsets([784, 300, 100, 10])) == [0, 0, 300, 400]


# --------------------------------------------------------------------------- both engines


@pytest.fixture(scope="module")
def mnist_sample():
    paths = data_paths(DataConfig())
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    return images[:1500].copy(), labels[:1500].copy()


def train_with_masks(engine, images, labels, activation, keep_factors=True):
    dataset = make_dataset(images, labels, "float64", "sample")
    network = init_network(SIZES, activation, "softmax", "lecun", 1.0, np.random.default_rng(0),
                           "float64")
    targets = TARGETS["backprop"](labels, 10, "float64")
    run_chunk = make_engine(engine, network, dataset.x, targets, labels, "backprop",
                            "cross_entropy")
    masks = ChunkMasks(Dropout(0.25, 0.5), SIZES, seed=3, dtype=np.float64)
    order = np.random.default_rng(1).permutation(len(labels))
    for start in range(0, len(order), 512):
        indices = order[start : start + 512]
        input_keep, keep = masks.draw(1, start, len(indices))
        run_chunk(indices, 0.01, dataset.x[indices] * input_keep, keep if keep_factors else None)
    return network


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_fused_matches_reference_with_dropout_masks(mnist_sample, activation):
    """float64: the engines agree to 1e-10 only if both thin the same units, forward and back."""
    ref = train_with_masks("reference", *mnist_sample, activation)
    fused = train_with_masks("fused", *mnist_sample, activation)
    for A, B in zip(ref.weights + ref.biases, fused.weights + fused.biases):
        assert np.abs(A - B).max() <= 1e-10 * max(np.abs(A).max(), 1e-12)
    unthinned = train_with_masks("fused", *mnist_sample, activation, keep_factors=False)
    assert not np.allclose(unthinned.weights[1], fused.weights[1], rtol=1e-3)


@pytest.mark.slow
def test_both_engines_train_the_same_run_with_dropout(tmp_path):
    weights = {}
    for engine in ("fused", "reference"):
        result = train(config(engine, "float64", epochs=1, learning_rate=0.01), tmp_path / engine)
        weights[engine] = load_checkpoint(tmp_path / engine / "checkpoints" / "last.npz")[0]
        assert result.history[0]["train_accuracy"] > 0.3  # chance: 0.1
    for A, B in zip(weights["fused"].weights, weights["reference"].weights):
        assert np.abs(A - B).max() <= 1e-10 * max(np.abs(A).max(), 1e-12)


@pytest.mark.slow
def test_dropout_changes_what_is_learned_and_evaluation_uses_the_whole_network(tmp_path):
    none = {"input": 0.0, "hidden": 0.0}
    plain = train(config(epochs=1, dropout=none), tmp_path / "plain")
    dropped = train(config(epochs=1), tmp_path / "dropped")
    a = load_checkpoint(tmp_path / "plain" / "checkpoints" / "last.npz")[0]
    b = load_checkpoint(tmp_path / "dropped" / "checkpoints" / "last.npz")[0]
    assert not np.array_equal(a.weights[1], b.weights[1])
    # the validation figures are those of the whole network (no masks, no scaling): recompute
    validation = load_training_data(config().data, "float32").validation
    accuracy = float((b.forward(validation.x).argmax(1) == validation.labels).mean())
    assert dropped.history[0]["val_accuracy"] == pytest.approx(accuracy)
    assert plain.history[0]["val_accuracy"] > 0.5 and dropped.history[0]["val_accuracy"] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("engine,calls", [("fused", 1), ("reference", 3)])
def test_resume_mid_epoch_with_dropout_and_distortions_is_bit_identical(tmp_path, monkeypatch,
                                                                        engine, calls):
    augment = {"affine": {"rotation": 10.0, "translation": 1.0}}
    whole = tmp_path / "whole"
    train(config(engine, augment=augment), whole)
    make_engine_before = nnctl.tasks.train.make_engine
    sigterm_after_chunks(monkeypatch, calls)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(engine, augment=augment), run_dir)
    assert load_checkpoint(run_dir / "checkpoints" / "last.npz")[1]["progress"]["position"] > 0
    monkeypatch.setattr(nnctl.tasks.train, "make_engine", make_engine_before)
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == checkpoints(whole)


# --------------------------------------------------------------------------- gradcheck


def test_gradcheck_passes_through_the_dropout_masks():
    results, note = check(config(dropout={"input": 0.3, "hidden": 0.5}), examples=2)
    assert "dropout" in note
    assert verdict(results).startswith("gradcheck passed")


def test_gradcheck_catches_a_backward_pass_that_ignores_the_masks(monkeypatch):
    backward = nnctl.engine.reference.backward

    def forgetful(W, z, a, y, fn, keep=None):
        return backward(W, z, a, y, fn, None)  # delta^[l] without the keep factors

    monkeypatch.setattr(nnctl.engine.reference, "backward", forgetful)
    results, _ = check(config(dropout={"input": 0.0, "hidden": 0.5}), examples=2)
    with pytest.raises(Exception, match="gradcheck failed"):
        verdict(results)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("dropout,key", [
    ({"hidden": 1.0}, "training.dropout.hidden"),
    ({"input": -0.1}, "training.dropout.input"),
    ({"input": "half"}, "training.dropout.input"),
    ({"rate": 0.5}, "training.dropout"),
])
def test_bad_dropout_values_are_one_line_errors(run, write_config, tmp_path, dropout, key):
    result = run("train", write_config({"training": {"dropout": dropout}}), "--out",
                 tmp_path / "run")
    assert_one_line_error(result, 2, key)
    assert not (tmp_path / "run").exists()


def test_hidden_dropout_needs_a_hidden_layer(run, write_config, tmp_path):
    path = write_config({"model": {"hidden": []}, "training": {"dropout": {"hidden": 0.5}}})
    result = run("train", path, "--out", tmp_path / "run")
    assert_one_line_error(result, 2, "training.dropout.hidden: the network has no hidden layer")

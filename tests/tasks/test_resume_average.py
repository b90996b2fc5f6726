"""training.average: a run validates, saves and tests the moving average of its epochs' weights,
while SGD goes on from its own (last.npz holds them, `iterate.*`); the average is what the
reference computes by hand from a run without it, and a run interrupted (mid-epoch or at an
epoch's end) then resumed writes the same checkpoints, byte for byte, as one never stopped."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import (
    assert_one_line_error,
    checkpoints,
    sigint_after_epoch,
    sigterm_after_chunks,
    uninterrupted_checkpoints,
)

import nnctl.tasks.train
from nnctl.errors import CheckpointError, Interrupted
from nnctl.io.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from nnctl.io.config import config_from_dict
from nnctl.io.run_dir import resume_config
from nnctl.tasks.train import train

BETA = 0.6
# Chunks per epoch of 4,500 examples: fused 2 (4,096), reference 9 (512). These counts stop
# training in the middle of epoch 2, where there is both an average and the weights SGD reached.
MID_EPOCH_2 = {"fused": 3, "reference": 12}


def config(engine: str, epochs: int = 3, **training):
    return config_from_dict(yaml.safe_load(yaml.safe_dump({
        "model": {"hidden": [8]},
        "training": {"epochs": epochs, "engine": engine, "learning_rate": 0.05,
                     "average": BETA, **training},
        "data": {"limit": 5000, "validation": 500},  # 4,500 examples
    })), "test")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return uninterrupted_checkpoints(tmp_path_factory, config)


def written(tmp_path, files: dict[str, bytes]):
    """The checkpoints, as files again."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_the_model_is_the_average_of_what_a_run_without_it_reaches(uninterrupted, tmp_path,
                                                                   engine):
    """Averaging leaves SGD alone: a run without it reaches the same weights at every epoch's
    end, bit for bit, and W_avg computed from those by hand is what the averaged run saved."""
    plain_dir = tmp_path / "plain"
    train(config(engine, average=0.0), plain_dir)
    reached = [load_checkpoint(plain_dir / "checkpoints" / f"epoch-{e:03d}.npz")[0]
               for e in range(4)]
    saved = written(tmp_path, uninterrupted[engine])
    expected = None
    for epoch in range(4):
        model = load_checkpoint(saved / f"epoch-{epoch:03d}.npz")[0]
        W = reached[epoch]
        if epoch == 1:
            expected = [A.copy() for A in W.weights + W.biases]
        elif epoch > 1:
            for A, B in zip(expected, W.weights + W.biases):
                A += (1.0 - BETA) * (B - A)
        for got, want in zip(model.weights + model.biases,
                             expected or (W.weights + W.biases)):  # epoch 0: the initial weights
            np.testing.assert_array_equal(got, want)
    last = load_training_state(saved / "last.npz")
    for got, want in zip(last.iterate.weights + last.iterate.biases,
                         reached[3].weights + reached[3].biases):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(last.network.weights[0], last.iterate.weights[0])
    assert load_training_state(saved / "best.npz").iterate is None  # only last.npz holds it


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_resume_mid_epoch_with_an_average_is_bit_identical(uninterrupted, tmp_path, monkeypatch,
                                                           engine):
    make_engine = nnctl.tasks.train.make_engine
    sigterm_after_chunks(monkeypatch, MID_EPOCH_2[engine])
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(engine), run_dir)
    state = load_training_state(run_dir / "checkpoints" / "last.npz")
    assert state.meta["progress"]["epoch"] == 1 and state.meta["progress"]["position"] > 0
    assert state.iterate is not None
    monkeypatch.setattr(nnctl.tasks.train, "make_engine", make_engine)
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == uninterrupted[engine]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_resume_at_an_epoch_end_with_an_average_is_bit_identical(uninterrupted, tmp_path,
                                                                 engine):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(engine), run_dir, on_epoch=sigint_after_epoch(2))
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == uninterrupted[engine]


def test_evaluate_reads_the_averaged_checkpoints(uninterrupted, tmp_path, run):
    saved = written(tmp_path, uninterrupted["fused"])
    for name in ("best.npz", "last.npz", "epoch-002.npz"):
        result = run("evaluate", str(saved / name), "--json")
        assert result.exit_code == 0, result.output


def test_a_run_cannot_switch_averaging_on_or_off_when_resumed(tmp_path):
    averaged = tmp_path / "averaged"
    train(config("reference", epochs=1), averaged)
    (averaged / "summary.json").unlink()
    with pytest.raises(CheckpointError, match="holds an average"):
        train(config("reference", epochs=2, average=0.0), averaged, resume=True)
    plain = tmp_path / "plain"
    train(config("reference", epochs=1, average=0.0), plain)
    (plain / "summary.json").unlink()
    with pytest.raises(CheckpointError, match="no average of the epochs' weights"):
        train(config("reference", epochs=2), plain, resume=True)


def test_an_iterate_that_does_not_fit_the_layers_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    train(config("reference", epochs=1), run_dir)
    last = run_dir / "checkpoints" / "last.npz"
    state = load_training_state(last)
    state.iterate.weights[0] = state.iterate.weights[0][:, :-1].copy()
    save_checkpoint(last, state.network, state.meta, None, state.iterate)
    with pytest.raises(CheckpointError, match=r"iterate\.1\.weight: expected float32"):
        load_training_state(last)


@pytest.mark.parametrize("value,words", [(1.0, ("training.average", "< 1")),
                                         (-0.5, ("training.average",)),
                                         ("half", ("training.average", "a number"))])
def test_bad_averages_are_one_line_errors(run, write_config, tmp_path, value, words):
    result = run("train", write_config({"model": {"hidden": [4]},
                                        "training": {"average": value}}),
                 "--out", tmp_path / "run")
    assert_one_line_error(result, 2, *words)
    assert not (tmp_path / "run").exists()


AVERAGE_SAID = "with the average of the epochs' weights at epoch"


@pytest.mark.parametrize("average,words", [(0.5, AVERAGE_SAID),
                                           (0.0, "with the weights of epoch")])
def test_train_says_which_weights_it_tested(run, write_config, tmp_path, average, words):
    result = run("train", write_config({"model": {"hidden": [4]},
                                        "training": {"epochs": 2, "average": average},
                                        "data": {"limit": 600, "validation": 100}}),
                 "--out", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert words in result.stdout

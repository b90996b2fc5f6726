"""Momentum's velocity is training state: last.npz holds it, and a run interrupted (mid-epoch or
at an epoch's end) then resumed writes the same checkpoints, byte for byte, as one never stopped,
on both engines; evaluate still reads every checkpoint; gradcheck still checks the gradient."""

from __future__ import annotations

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
from nnctl.tasks.gradcheck import check, verdict
from nnctl.tasks.train import train

STEP = {"momentum": 0.5, "max_norm": 2.0}


def config(engine: str, epochs: int = 2, **training):
    return config_from_dict(yaml.safe_load(yaml.safe_dump({
        "model": {"hidden": [8]},
        "training": {"epochs": epochs, "engine": engine, "learning_rate": 0.05,
                     **STEP, **training},
        "data": {"limit": 5000, "validation": 500},  # 4,500 examples: two fused chunks
    })), "test")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return uninterrupted_checkpoints(tmp_path_factory, config)


@pytest.mark.slow
@pytest.mark.parametrize("engine,calls", [("fused", 1), ("reference", 3)])
def test_resume_mid_epoch_with_momentum_is_bit_identical(uninterrupted, tmp_path, monkeypatch,
                                                         engine, calls):
    make_engine = nnctl.tasks.train.make_engine
    sigterm_after_chunks(monkeypatch, calls)
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(engine), run_dir)
    _, meta, velocity, _ = load_training_state(run_dir / "checkpoints" / "last.npz")
    assert meta["progress"]["position"] > 0 and velocity is not None
    assert any(v.any() for v in velocity.weights)
    monkeypatch.setattr(nnctl.tasks.train, "make_engine", make_engine)
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == uninterrupted[engine]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_resume_at_an_epoch_end_with_momentum_is_bit_identical(uninterrupted, tmp_path, engine):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(config(engine), run_dir, on_epoch=sigint_after_epoch(1))
    train(resume_config(run_dir), run_dir, resume=True)
    assert checkpoints(run_dir) == uninterrupted[engine]


def test_only_last_npz_holds_the_velocity_and_evaluate_reads_them_all(uninterrupted, tmp_path,
                                                                      run):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoints").mkdir()
    for name, data in uninterrupted["fused"].items():
        (run_dir / "checkpoints" / name).write_bytes(data)
        velocity = load_training_state(run_dir / "checkpoints" / name)[2]
        assert (velocity is not None) == (name == "last.npz"), name
        result = run("evaluate", str(run_dir / "checkpoints" / name), "--json")
        assert result.exit_code == 0, result.output


def test_a_momentum_run_without_its_velocity_is_not_resumed(tmp_path):
    run_dir = tmp_path / "run"
    train(config("reference", epochs=1), run_dir)
    last = run_dir / "checkpoints" / "last.npz"
    network, meta = load_checkpoint(last)
    save_checkpoint(last, network, meta)  # the velocity left out
    (run_dir / "summary.json").unlink()
    with pytest.raises(CheckpointError, match="no momentum velocity"):
        train(config("reference", epochs=2), run_dir, resume=True)


def test_momentum_off_saves_no_velocity(tmp_path):
    run_dir = tmp_path / "run"
    train(config("fused", epochs=1, momentum=0.0), run_dir)
    assert load_training_state(run_dir / "checkpoints" / "last.npz")[2] is None


def test_gradcheck_is_unaffected_by_momentum_and_max_norm():
    """They change the step, not the gradient: gradcheck checks backprop's gradient as ever."""
    results, _ = check(config("reference", momentum=0.9, max_norm=0.5), examples=2)
    assert verdict(results).startswith("gradcheck passed")
    plain, _ = check(config("reference", momentum=0.0, max_norm=0.0), examples=2)
    assert results == plain  # the same figures, layer by layer


@pytest.mark.parametrize("training,words", [
    ({"momentum": 1.0}, ("training.momentum", "< 1")),
    ({"momentum": -0.1}, ("training.momentum",)),
    ({"max_norm": -1.0}, ("training.max_norm", ">= 0")),
    ({"max_norm": "big"}, ("training.max_norm", "a number")),
    ({"rule": "perceptron", "momentum": 0.9}, ("training.momentum", "backprop")),
    ({"rule": "delta", "max_norm": 3.0}, ("training.max_norm", "backprop")),
])
def test_bad_momentum_and_max_norm_are_one_line_errors(run, write_config, tmp_path, training,
                                                       words):
    model = {"hidden": []} if "rule" in training else {"hidden": [4]}
    result = run("train", write_config({"model": model, "training": training}), "--out",
                 tmp_path / "run")
    assert_one_line_error(result, 2, *words)
    assert not (tmp_path / "run").exists()

"""nnctl gradcheck: passes on every shipped config, fails (exit 1) on a broken derivative."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nnctl.core.activations
import nnctl.core.losses

CONFIGS = sorted(p for p in Path(__file__).resolve().parents[2].glob("configs/**/*.yaml")
                 if p.parent.name != "sweeps")  # configs/sweeps/ holds sweep files, not configs


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_gradcheck_passes_on_every_shipped_config(run, config):
    result = run("gradcheck", config, "--examples", "2")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "gradcheck passed" in result.stdout and "layers.1.weight" in result.stdout


def test_gradcheck_fails_on_a_broken_hidden_derivative(run, monkeypatch):
    def wrong(z):  # sigmoid's derivative off by a factor of 2
        return 2 * nnctl.core.activations.d_sigmoid(z)

    monkeypatch.setitem(nnctl.core.activations.DERIVATIVES, "sigmoid", wrong)
    result = run("gradcheck", "configs/mlp-300.yaml", "--examples", "2")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: gradcheck failed: layers.1.")


def test_gradcheck_fails_on_a_broken_output_delta(run, monkeypatch):
    def wrong(a, y):  # forgets softmax's normalisation
        return a * (a - y)

    monkeypatch.setitem(nnctl.core.losses.OUTPUT_DELTAS, ("cross_entropy", "softmax"), wrong)
    result = run("gradcheck", "configs/single-layer-softmax.yaml", "--examples", "2")
    assert result.exit_code == 1 and "gradcheck failed" in result.stderr


def test_gradcheck_reports_every_array(run):
    result = run("gradcheck", "configs/mlp-300-100.yaml", "--examples", "1")
    for l in (1, 2, 3):
        assert f"layers.{l}.weight" in result.stdout and f"layers.{l}.bias" in result.stdout


def test_relative_error_is_measured_not_assumed():
    from nnctl.io.config import load_config
    from nnctl.tasks.gradcheck import check

    results, _ = check(load_config("configs/mlp-300.yaml"), examples=1)
    errors = [r.error for r in results]
    assert all(0 < e < 1e-6 for e in errors)  # finite differences are never exact
    assert all(r.checked > 0 and np.isfinite(r.largest_gradient) for r in results)

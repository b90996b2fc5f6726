"""The fused engine gives the reference engine's weights: every rule, activation, output and loss.

Both engines start from the same initial weights and run one epoch over the same example order
(2,000 real MNIST images plus blank ones, which have no non-zero pixel at all).

Tolerances. float64: 1e-10 relative; the engines differ only in the order of
sums (BLAS against the compiled loops), so they agree to ~1e-15. float32: 1e-4 relative to the
largest weight of the layer. One rounding is 6e-8; the two engines round differently on every sum
and exp, and 2,000 updates accumulate such differences like a random walk (measured: ~1e-6).
1e-4 leaves a 100x margin while any real difference in the equations (a missed bias step, a wrong
derivative, one skipped example) moves the weights by 1e-3 or more.

Learning rates are in SGD's stable regime (backprop 0.01). Above it (say tanh, 784-12-10,
cross-entropy, eta 0.05) per-example SGD amplifies any rounding difference exponentially, about
10x per 200 examples (measured), and no two implementations that round differently can agree.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.losses import OUTPUT_DELTAS
from nnctl.core.network import init_network
from nnctl.core.rules import TARGETS
from nnctl.engine import make_engine
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import data_paths, make_dataset
from nnctl.io.idx import read_examples
from nnctl.tasks.train import train

N_EXAMPLES, N_BLANK = 2000, 20
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
ETA = {"backprop": 0.01, "perceptron": 1.0, "delta": 0.001}
ETA_LINEAR_OUTPUT = 0.002  # an identity output unit is an LMS unit: stable only for eta < 2 / |x|^2


@pytest.fixture(scope="module")
def mnist_sample():
    paths = data_paths(DataConfig())
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    images, labels = images[:N_EXAMPLES].copy(), labels[:N_EXAMPLES].copy()
    blank = np.random.default_rng(3).choice(N_EXAMPLES, N_BLANK, replace=False)
    images[blank] = 0
    return images, labels


def cases():
    for hidden in ([], [12], [12, 8]):
        for activation in sorted(ACTIVATIONS) if hidden else ["sigmoid"]:
            for loss, output in sorted(OUTPUT_DELTAS):
                yield "backprop", hidden, activation, output, loss
    yield "perceptron", [], "sigmoid", "identity", "perceptron"
    yield "delta", [], "sigmoid", "identity", "squared_error"


def train_one_epoch(engine, images, labels, dtype, rule, hidden, activation, output, loss):
    dataset = make_dataset(images, labels, dtype, "sample")
    network = init_network([dataset.x.shape[1], *hidden, 10], activation, output, "lecun", 1.0,
                           np.random.default_rng(0), dtype)
    targets = TARGETS[rule](labels, 10, dtype)
    run_chunk = make_engine(engine, network, dataset.x, targets, labels, rule, loss)
    order = np.random.default_rng(1).permutation(len(labels))
    total, mistakes, updates = 0.0, 0, 0
    eta = ETA_LINEAR_OUTPUT if rule == "backprop" and output == "identity" else ETA[rule]
    for i in range(0, len(order), 700):  # uneven chunks: the boundary must not matter
        chunk_loss, chunk_mistakes, chunk_updates = run_chunk(order[i : i + 700], eta)
        total += chunk_loss
        mistakes += chunk_mistakes
        updates += chunk_updates
    return network, total, (mistakes, updates)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("rule,hidden,activation,output,loss", list(cases()),
                         ids=lambda v: "-".join(map(str, v)) if isinstance(v, list) else str(v))
def test_fused_matches_reference(mnist_sample, dtype, rule, hidden, activation, output, loss):
    images, labels = mnist_sample
    args = (images, labels, dtype, rule, hidden, activation, output, loss)
    ref, ref_loss, ref_mistakes = train_one_epoch("reference", *args)
    fused, fused_loss, fused_mistakes = train_one_epoch("fused", *args)
    tol = TOLERANCE[dtype]
    for l, (A, B) in enumerate(zip(ref.weights + ref.biases, fused.weights + fused.biases)):
        assert A.dtype == B.dtype == np.dtype(dtype) and A.shape == B.shape
        assert np.isfinite(A).all()
        scale = max(np.abs(A).max(), 1e-12)
        assert np.abs(A - B).max() / scale <= tol, f"array {l}"
    assert fused_loss == pytest.approx(ref_loss, rel=tol)
    (ref_mistakes, ref_updates), (fused_mistakes, fused_updates) = ref_mistakes, fused_mistakes
    if dtype == "float64":
        assert (fused_mistakes, fused_updates) == (ref_mistakes, ref_updates)
    else:  # a near-tie may tip either way
        assert abs(fused_mistakes - ref_mistakes) <= 2 and abs(fused_updates - ref_updates) <= 2
    if rule == "backprop":
        assert ref_updates == len(labels)
    elif rule == "perceptron":
        assert 0 < ref_updates < len(labels)


def test_training_moved_the_weights(mnist_sample):
    """The equivalence above is not vacuous: an epoch changes the weights far beyond the
    tolerance."""
    images, labels = mnist_sample
    trained, _, _ = train_one_epoch("fused", images, labels, "float32", "backprop", [12], "sigmoid",
                                    "softmax", "cross_entropy")
    initial = init_network([784, 12, 10], "sigmoid", "softmax", "lecun", 1.0,
                           np.random.default_rng(0), "float32")
    change = (np.abs(trained.weights[0] - initial.weights[0]).max()
              / np.abs(initial.weights[0]).max())
    assert change > 100 * TOLERANCE["float32"]


def test_blank_images_change_only_the_biases(mnist_sample):
    _images, labels = mnist_sample
    blank = np.zeros((5, 28, 28), dtype=np.uint8)
    args = ("float64", "backprop", [6], "tanh", "softmax", "cross_entropy")
    before = init_network([784, 6, 10], "tanh", "softmax", "lecun", 1.0, np.random.default_rng(0),
                          "float64")
    after, _, _ = train_one_epoch("fused", blank, labels[:5], *args)
    np.testing.assert_array_equal(after.weights[0], before.weights[0])  # no input, no gradient
    assert not np.array_equal(after.biases[0], before.biases[0])


def test_cli_and_evaluate_do_not_import_numba(tiny_dataset, tmp_path):
    """A fresh interpreter runs --help and a real evaluation (a trained checkpoint, its test split)
    through the CLI, then reports whether numba was ever imported."""
    config = config_from_dict({"model": {"hidden": [4]},
                               "training": {"epochs": 1, "engine": "reference"},
                               "data": {"dir": str(tiny_dataset()), "validation": 0}}, "test")
    train(config, tmp_path / "run")
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from nnctl.cli import cli\n"
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
        "result = CliRunner().invoke(cli, ['evaluate', sys.argv[1], '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(json.loads(result.stdout)['examples'], 'numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "100 False"  # the tiny dataset's 100 test images were evaluated


def test_train_says_which_engine_ran(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": []}, "training": {"epochs": 1}})
    fused = run("train", config, "--out", tmp_path / "a")
    assert fused.exit_code == 0 and "engine fused" in fused.stderr
    reference = run("train", config, "--out", tmp_path / "b", "--set", "training.engine=reference")
    assert reference.exit_code == 0 and "engine reference" in reference.stderr


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_chunk_inputs_train_exactly_as_indexed_inputs(mnist_sample, engine):
    """Giving a chunk its own input rows (distorted images) is the same as indexing x."""
    images, labels = mnist_sample
    dataset = make_dataset(images, labels, "float32", "sample")
    targets = TARGETS["backprop"](labels, 10, "float32")
    results = []
    for own_inputs in (False, True):
        network = init_network([dataset.x.shape[1], 12, 10], "relu", "softmax", "lecun", 1.0,
                               np.random.default_rng(0), "float32")
        run_chunk = make_engine(engine, network, dataset.x, targets, labels, "backprop",
                                "cross_entropy")
        order = np.random.default_rng(1).permutation(len(labels))
        sums = [run_chunk(order[i : i + 300], 0.05, dataset.x[order[i : i + 300]]
                          if own_inputs else None) for i in range(0, len(order), 300)]
        results.append((sums, [W.copy() for W in network.weights]))
    (sums_a, weights_a), (sums_b, weights_b) = results
    assert sums_a == sums_b
    for A, B in zip(weights_a, weights_b):
        np.testing.assert_array_equal(A, B)

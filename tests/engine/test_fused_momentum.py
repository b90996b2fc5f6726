"""The fused engine's momentum and max-norm (engine/momentum_max_norm.py: lazy per-row momentum,
per-unit scale factors, a dense pass with both) give the reference engine's weights and
velocities, with and without dropout, in uneven chunks.

Tolerances as in test_fused.py (float64 1e-10 relative, float32 1e-4). Learning rates stay in
SGD's stable regime: momentum mu multiplies the effective step by about 1 / (1 - mu), so eta is
lowered with it (at mu = 0.9 and eta = 0.01 the two engines' roundings grow apart, measured).
"""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.core.dropout import Dropout
from nnctl.core.momentum_max_norm import StepOptions, zero_velocity
from nnctl.core.network import init_network
from nnctl.core.rules import TARGETS
from nnctl.engine import fused, make_engine
from nnctl.engine.inputs import ChunkMasks
from nnctl.io.config import DataConfig
from nnctl.io.examples import data_paths, make_dataset
from nnctl.io.idx import read_examples

SIZES = [784, 12, 8, 10]
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
OPTIONS = {"momentum": StepOptions(0.9, 0.0), "max_norm": StepOptions(0.0, 1.0),
           "both": StepOptions(0.9, 1.0)}


@pytest.fixture(scope="module")
def mnist_sample():
    paths = data_paths(DataConfig())
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    images, labels = images[:1200].copy(), labels[:1200].copy()
    images[np.random.default_rng(3).choice(1200, 10, replace=False)] = 0  # blank images too
    return images, labels


def train(engine, images, labels, dtype, options, dropout, eta=0.002):
    dataset = make_dataset(images, labels, dtype, "sample")
    network = init_network(SIZES, "tanh", "softmax", "lecun", 1.0, np.random.default_rng(0),
                           dtype)
    velocity = zero_velocity(network.weights, network.biases)
    run_chunk = make_engine(engine, network, dataset.x, TARGETS["backprop"](labels, 10, dtype),
                            labels, "backprop", "cross_entropy", options, velocity)
    masks = ChunkMasks(Dropout(0.2, 0.5), SIZES, seed=3, dtype=np.dtype(dtype))
    order = np.random.default_rng(1).permutation(len(labels))
    total = 0.0
    for start in range(0, len(order), 500):  # uneven chunks: 500, 500, 200
        indices = order[start : start + 500]
        inputs = keep = None
        if dropout:
            input_keep, keep = masks.draw(1, start, len(indices))
            inputs = dataset.x[indices] * input_keep
        total += run_chunk(indices, eta, inputs, keep).loss
    return network, velocity, total


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("dropout", [False, True], ids=["plain", "dropout"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_fused_matches_reference(mnist_sample, name, dropout, dtype):
    options = OPTIONS[name]
    ref, ref_v, ref_loss = train("reference", *mnist_sample, dtype, options, dropout)
    out, out_v, out_loss = train("fused", *mnist_sample, dtype, options, dropout)
    arrays = list(zip(ref.weights + ref.biases, out.weights + out.biases))
    if options.momentum:
        arrays += list(zip(ref_v.weights + ref_v.biases, out_v.weights + out_v.biases))
    for k, (A, B) in enumerate(arrays):
        assert A.dtype == B.dtype == np.dtype(dtype) and np.isfinite(A).all()
        assert np.abs(A - B).max() <= TOLERANCE[dtype] * max(np.abs(A).max(), 1e-12), k
    assert out_loss == pytest.approx(ref_loss, rel=TOLERANCE[dtype])
    if options.max_norm:  # the bound was reached, and holds in the arrays handed back
        norms = [np.linalg.norm(W, axis=1) for W in out.weights[:-1]]
        assert max(n.max() for n in norms) == pytest.approx(options.max_norm, rel=1e-5)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_the_options_change_the_weights(mnist_sample, name):
    """Not vacuous: each option moves the weights far beyond the tolerance."""
    plain, _, _ = train("fused", *mnist_sample, "float64", None, False)
    changed, _, _ = train("fused", *mnist_sample, "float64", OPTIONS[name], False)
    assert np.abs(plain.weights[0] - changed.weights[0]).max() > 1e-3


def test_lazy_momentum_leaves_no_row_behind(mnist_sample):
    """Momentum alone: a row of W^[1] on a pixel no example of the chunk has moves by its
    velocity all the same (the catch-up at the chunk's end)."""
    images, labels = mnist_sample
    options = OPTIONS["momentum"]
    network, velocity, _ = train("fused", images, labels, "float64", options, False)
    dataset = make_dataset(images[:1], labels[:1], "float64", "sample")
    zeros = np.flatnonzero(dataset.x[0] == 0)
    before_W, before_v = network.weights[0].copy(), velocity.weights[0].copy()
    run_chunk = make_engine("fused", network, dataset.x, TARGETS["backprop"](labels[:1], 10,
                            "float64"), labels[:1], "backprop", "cross_entropy", options, velocity)
    run_chunk(np.zeros(3, dtype=np.int64), 0.002)
    mu = options.momentum
    expected = before_W[:, zeros] + (mu + mu**2 + mu**3) * before_v[:, zeros]
    np.testing.assert_allclose(network.weights[0][:, zeros], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(velocity.weights[0][:, zeros], mu**3 * before_v[:, zeros],
                               rtol=1e-12, atol=1e-18)


def test_options_never_take_two_threads(monkeypatch):
    """The two-thread kernel knows neither option: make picks one thread when one is on."""
    network = init_network([784, 1000, 500, 10], "sigmoid", "softmax", "lecun", 1.0,
                           np.random.default_rng(0), "float32")
    monkeypatch.setattr(fused, "two_parts", lambda *a: pytest.fail("two threads"))
    x, labels = np.zeros((2, 784), dtype=np.float32), np.array([0, 1])
    monkeypatch.setattr(fused, "threads_for", lambda *a: 2)
    fused.make(network, x, TARGETS["backprop"](labels, 10, "float32"), labels, "backprop",
               "cross_entropy", options=OPTIONS["both"])
    with pytest.raises(ValueError, match="momentum"):
        fused.make(network, x, TARGETS["backprop"](labels, 10, "float32"), labels, "backprop",
                   "cross_entropy", threads=2, options=OPTIONS["momentum"])

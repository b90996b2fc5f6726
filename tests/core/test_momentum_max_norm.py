"""Momentum and max-norm (core/momentum_max_norm.py) as the reference engine steps them: two
examples by hand, the norm bound after every update, and mu = 0 as today's plain step."""

from __future__ import annotations

import numpy as np

from nnctl.core.momentum_max_norm import (
    StepOptions,
    config_step_options,
    max_norm,
    momentum_step,
    zero_velocity,
)
from nnctl.core.network import init_network
from nnctl.core.rules import TARGETS
from nnctl.engine import make_engine
from nnctl.engine.reference import backward, forward, functions
from nnctl.io.config import config_from_dict

SIZES = [6, 4, 3]


def network_and_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    network = init_network(SIZES, "tanh", "softmax", "lecun", 1.0, rng, "float64")
    x = rng.random((2, SIZES[0]))
    labels = np.array([2, 0])
    return network, x, labels, TARGETS["backprop"](labels, 3, "float64")


def gradient(network, x, y):
    """dJ/dW^[l], dJ/db^[l] of one example (the lecture's delta a^T)."""
    W, b = [None, *network.weights], [None, *network.biases]
    fn = functions("tanh", "softmax", "cross_entropy")
    z, a = forward(W, b, x, fn)
    delta = backward(W, z, a, y, fn)
    return ([np.outer(delta[l], a[l - 1]) for l in range(1, len(W))],
            [delta[l] for l in range(1, len(W))])


def test_two_examples_with_momentum_by_hand():
    network, x, labels, targets = network_and_data()
    eta, mu = 0.5, 0.75
    W0 = [W.copy() for W in network.weights]
    b0 = [b.copy() for b in network.biases]
    # by hand: v1 = -eta g(W0), W1 = W0 + v1; v2 = mu v1 - eta g(W1), W2 = W1 + v2
    g0W, g0b = gradient(network, x[0], targets[0])
    W1 = [W - eta * g for W, g in zip(W0, g0W)]
    b1 = [b - eta * g for b, g in zip(b0, g0b)]
    stepped = network.copy()
    stepped.weights[:], stepped.biases[:] = [W.copy() for W in W1], [b.copy() for b in b1]
    g1W, g1b = gradient(stepped, x[1], targets[1])
    vW = [mu * -eta * g0 - eta * g1 for g0, g1 in zip(g0W, g1W)]
    vb = [mu * -eta * g0 - eta * g1 for g0, g1 in zip(g0b, g1b)]

    velocity = zero_velocity(network.weights, network.biases)
    run_chunk = make_engine("reference", network, x, targets, labels, "backprop",
                            "cross_entropy", StepOptions(mu, 0.0), velocity)
    run_chunk(np.array([0, 1]), eta)
    for l in range(2):
        np.testing.assert_allclose(velocity.weights[l], vW[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(velocity.biases[l], vb[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(network.weights[l], W1[l] + vW[l], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(network.biases[l], b1[l] + vb[l], rtol=1e-12, atol=1e-15)
    # momentum made a difference: the plain second step is not this one
    assert not np.allclose(network.weights[0], W1[0] - eta * g1W[0], rtol=1e-6)


def test_the_norm_bound_holds_after_every_update():
    rng = np.random.default_rng(1)
    network = init_network([20, 8, 5, 3], "relu", "softmax", "lecun", 3.0, rng, "float64")
    x, labels = rng.random((40, 20)), rng.integers(0, 3, 40)
    c = 1.5
    assert max(np.linalg.norm(W, axis=1).max() for W in network.weights[:2]) > c
    output_before = network.weights[2].copy()
    run_chunk = make_engine("reference", network, x, TARGETS["backprop"](labels, 3, "float64"),
                            labels, "backprop", "cross_entropy", StepOptions(0.5, c))
    reached = 0
    for n in range(len(x)):
        run_chunk(np.array([n]), 0.2)
        for W in network.weights[:2]:  # every hidden unit, after every example
            norms = np.linalg.norm(W, axis=1)
            assert norms.max() <= c * (1 + 1e-12)
            reached += int(np.isclose(norms, c).sum())
    assert reached > 0
    # the output layer's units are not bounded (they grow past c here)
    assert not np.array_equal(network.weights[2], output_before)


def test_max_norm_scales_only_the_long_rows():
    W = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    max_norm(W, 2.0)
    np.testing.assert_allclose(W, [[1.2, 1.6], [0.3, 0.4], [0.0, 0.0]])


def test_momentum_step_in_place():
    W, v = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    momentum_step(W, v, np.array([0.1, 0.2]), 0.5)
    np.testing.assert_allclose(v, [0.15, -0.7])
    np.testing.assert_allclose(W, [1.15, 1.3])


def test_mu_zero_is_todays_step():
    """momentum 0 and max_norm 0 (the defaults) take no options: the engines run the step they
    ran before, and the options' own path at mu = 0 gives the same weights."""
    assert config_step_options(config_from_dict({}, "test")) is None
    assert config_step_options(config_from_dict({"training": {"momentum": 0.0}}, "test")) is None
    assert config_step_options(
        config_from_dict({"training": {"max_norm": 2.0}}, "test")) == StepOptions(0.0, 2.0)
    plain, x, labels, targets = network_and_data()
    with_options = plain.copy()
    make_engine("reference", plain, x, targets, labels, "backprop", "cross_entropy")(
        np.array([0, 1]), 0.5)
    make_engine("reference", with_options, x, targets, labels, "backprop", "cross_entropy",
                StepOptions(0.0, 0.0))(np.array([0, 1]), 0.5)
    for A, B in zip(plain.weights + plain.biases, with_options.weights + with_options.biases):
        np.testing.assert_array_equal(A, B)


def test_zero_velocity_is_zero_and_shaped_like_the_weights():
    network, *_ = network_and_data()
    velocity = zero_velocity(network.weights, network.biases)
    for v, W in zip(velocity.weights + velocity.biases, network.weights + network.biases):
        assert v.shape == W.shape and v.dtype == W.dtype and not v.any()

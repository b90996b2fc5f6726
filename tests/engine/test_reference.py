"""The reference engine's backpropagation (nnctl.engine.reference) against finite differences,
and run_chunk's bookkeeping (summed loss, mistakes, in-place float32 updates)."""

import itertools

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.losses import OUTPUT_DELTAS, loss_function
from nnctl.core.network import Network, init_network
from nnctl.core.rules import TARGETS
from nnctl.engine import make_engine
from nnctl.engine.reference import backprop, functions
from nnctl.io.config import RULE_LOSS

PAIRS = sorted(OUTPUT_DELTAS)
PAIR_IDS = [f"{loss}-{output}" for loss, output in PAIRS]
ACTS = sorted(ACTIVATIONS)
SIZES = [[5, 4, 3], [5, 4, 3, 3]]
H = 1e-6  # central differences in float64: error ~H^2 (truncation) + 1e-16/H (rounding) ~ 1e-10


def random_problem(sizes, activation, output, seed):
    """Weights, biases, one input x and a one-hot target y, all float64.

    Hidden pre-activations are kept at least 1e-3 away from 0 (relu's kink) so that a +-H
    perturbation of any parameter cannot cross it; draws that come too close are redrawn."""
    rng = np.random.default_rng(seed)
    while True:
        weights = [rng.normal(0.0, 1.5 / np.sqrt(m), (n, m)) for m, n in itertools.pairwise(sizes)]
        biases = [rng.normal(0.0, 0.3, n) for n in sizes[1:]]
        x = rng.normal(0.0, 1.0, sizes[0])
        a, ok = x, True
        for W, b in zip(weights[:-1], biases[:-1]):
            z = W @ a + b
            ok &= bool(np.all(np.abs(z) > 1e-3))
            a = ACTIVATIONS[activation](z)
        if ok:
            break
    y = np.zeros(sizes[-1])
    y[rng.integers(sizes[-1])] = 1.0
    return Network(weights, biases, activation, output), x, y


def network_loss(net, x, y, loss):
    a = net.forward(x[None, :])
    assert a.shape == (1, len(y))
    return float(loss_function(loss, net.output)(a, y[None, :])[0])


def numeric_gradients(net, x, y, loss):
    grads_W, grads_b = [], []
    for params, grads in ((net.weights, grads_W), (net.biases, grads_b)):
        for P in params:
            G = np.zeros_like(P)
            for idx in np.ndindex(P.shape):
                saved = P[idx]
                P[idx] = saved + H
                plus = network_loss(net, x, y, loss)
                P[idx] = saved - H
                minus = network_loss(net, x, y, loss)
                P[idx] = saved
                G[idx] = (plus - minus) / (2 * H)
            grads.append(G)
    return grads_W, grads_b


def backprop_gradients(net, x, y, loss):
    """before - after of one backprop step with eta = 1 on copies: the gradient."""
    W = [None] + [M.copy() for M in net.weights]
    b = [None] + [v.copy() for v in net.biases]
    example_loss, a, _changed = backprop(W, b, x, y, 1.0,
                                         functions(net.activation, net.output, loss))
    grads_W = [before - after for before, after in zip(net.weights, W[1:])]
    grads_b = [before - after for before, after in zip(net.biases, b[1:])]
    return grads_W, grads_b, example_loss, a


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("loss,output", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("activation", ACTS)
def test_backprop_gradient_matches_finite_differences(activation, loss, output, sizes, seed):
    net, x, y = random_problem(sizes, activation, output, seed)
    original = net.copy()
    bp_W, bp_b, example_loss, a = backprop_gradients(net, x, y, loss)
    # backprop worked on copies
    for M, M0 in zip(net.weights + net.biases, original.weights + original.biases):
        np.testing.assert_array_equal(M, M0)
    # it reports the loss and output of the forward pass before the update
    np.testing.assert_allclose(a, net.forward(x[None, :])[0], rtol=1e-12)
    assert example_loss == pytest.approx(network_loss(net, x, y, loss), rel=1e-12)

    num_W, num_b = numeric_gradients(net, x, y, loss)
    for l, (g, n) in enumerate(zip(bp_W, num_W), start=1):
        assert g.shape == n.shape
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-8, err_msg=f"dloss/dW^[{l}]")
    for l, (g, n) in enumerate(zip(bp_b, num_b), start=1):
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-8, err_msg=f"dloss/db^[{l}]")
    # the check is not vacuous: the first layer gets a gradient too
    assert np.abs(bp_W[0]).max() > 1e-6


@pytest.mark.parametrize("loss,output", PAIRS, ids=PAIR_IDS)
def test_backprop_step_scales_with_eta(loss, output):
    net, x, y = random_problem([4, 3, 2], "tanh", output, 3)
    g_W, g_b, _, _ = backprop_gradients(net, x, y, loss)
    W = [None] + [M.copy() for M in net.weights]
    b = [None] + [v.copy() for v in net.biases]
    backprop(W, b, x, y, 0.25, functions("tanh", output, loss))
    for before, after, g in zip(net.weights + net.biases, W[1:] + b[1:], g_W + g_b):
        np.testing.assert_allclose(before - after, 0.25 * g, rtol=1e-9, atol=1e-15)


# ---------------------------------------------------------------- run_chunk through make_engine

def chunk_problem(rule, activation, output, dtype, seed=0, n=20, d=6, classes=3):
    rng = np.random.default_rng(seed)
    sizes = [d, 5, classes] if rule == "backprop" else [d, classes]
    net = init_network(sizes, activation, output, "lecun", 1.0, rng, dtype)
    net.biases = [rng.normal(0.0, 0.1, v.shape).astype(dtype) for v in net.biases]
    x = rng.normal(0.0, 1.0, (n, d)).astype(dtype)
    labels = rng.integers(classes, size=n)
    targets = TARGETS[rule](labels, classes, dtype)
    return net, x, labels, targets


# (rule, loss, output): every backprop pair, and each single-layer rule with its own criterion
CHUNK_CASES = [("backprop", loss, output) for loss, output in PAIRS] + [
    (rule, loss, "identity") for rule, loss in sorted(RULE_LOSS.items())
]
CHUNK_IDS = [f"{r}-{l}-{o}" for r, l, o in CHUNK_CASES]
INDICES = np.array([3, 0, 7, 7, 19, 12, 5, 3, 1, 18, 2])  # any order, repeats allowed


@pytest.mark.parametrize("rule,loss,output", CHUNK_CASES, ids=CHUNK_IDS)
def test_run_chunk_with_eta_zero_reports_loss_and_mistakes(rule, loss, output):
    net, x, labels, targets = chunk_problem(rule, "tanh", output, "float64")
    before = net.copy()
    run_chunk = make_engine("reference", net, x, targets, labels, rule, loss)
    total, mistakes, _updates = run_chunk(INDICES, 0.0)

    a = before.forward(x[INDICES])
    expected_total = loss_function(loss, output)(a, targets[INDICES]).sum()
    expected_mistakes = int((a.argmax(axis=1) != labels[INDICES]).sum())
    assert total == pytest.approx(expected_total, rel=1e-10, abs=1e-12)
    assert mistakes == expected_mistakes
    assert isinstance(mistakes, int)
    for M, M0 in zip(net.weights + net.biases, before.weights + before.biases):
        np.testing.assert_array_equal(M, M0)


def manual_sgd(net, x, targets, labels, indices, eta, rule, loss):
    """Per-example SGD done by hand: loss and mistakes from Network.forward before each step."""
    net = net.copy()
    total, mistakes = 0.0, 0
    for n in indices:
        a = net.forward(x[n][None, :])[0]
        y = targets[n]
        total += float(loss_function(loss, net.output)(a, y))
        mistakes += int(a.argmax() != labels[n])
        if rule == "backprop":
            W, b = [None] + net.weights, [None] + net.biases
            backprop(W, b, x[n], y, eta, functions(net.activation, net.output, loss))
        else:  # the lecture's single-layer rules, written out here independently
            W, b = net.weights[0], net.biases[0]
            if rule == "perceptron":
                wrong = y * a <= 0
                W[wrong] += eta * np.outer(y[wrong], x[n])
                b[wrong] += eta * y[wrong]
            else:
                W += eta * np.outer(y - a, x[n])
                b += eta * (y - a)
    return net, total, mistakes


@pytest.mark.parametrize("rule,loss,output", CHUNK_CASES, ids=CHUNK_IDS)
def test_run_chunk_matches_manual_sgd(rule, loss, output):
    net, x, labels, targets = chunk_problem(rule, "sigmoid", output, "float64", seed=1)
    eta = 0.3
    expected_net, expected_total, expected_mistakes = manual_sgd(
        net, x, targets, labels, INDICES, eta, rule, loss)
    arrays = net.weights + net.biases
    initial = [M.copy() for M in arrays]
    run_chunk = make_engine("reference", net, x, targets, labels, rule, loss)
    total, mistakes, _updates = run_chunk(INDICES, eta)

    assert total == pytest.approx(expected_total, rel=1e-10, abs=1e-12)
    assert mistakes == expected_mistakes
    for M, E in zip(net.weights + net.biases, expected_net.weights + expected_net.biases):
        np.testing.assert_allclose(M, E, rtol=1e-12, atol=1e-14)
    # updated in place: the network's own arrays, not new ones
    assert all(M is A for M, A in zip(net.weights + net.biases, arrays))
    # and the chunk did train
    assert any(not np.array_equal(M, M0) for M, M0 in zip(arrays, initial))


# every hidden activation with backprop; the single-layer rules have no hidden layer
FLOAT32_CASES = [
    (activation, rule, loss, output)
    for rule, loss, output in CHUNK_CASES
    for activation in (ACTS if rule == "backprop" else ACTS[:1])
]


@pytest.mark.parametrize(
    "activation,rule,loss,output", FLOAT32_CASES, ids=["-".join(c) for c in FLOAT32_CASES]
)
def test_float32_network_stays_float32(activation, rule, loss, output):
    net32, x32, labels, targets32 = chunk_problem(rule, activation, output, "float32", seed=2)
    net64 = Network([W.astype("float64") for W in net32.weights],
                    [b.astype("float64") for b in net32.biases], activation, output)
    run32 = make_engine("reference", net32, x32, targets32, labels, rule, loss)
    run64 = make_engine("reference", net64, x32.astype("float64"), targets32.astype("float64"),
                        labels, rule, loss)
    indices = np.random.default_rng(3).permutation(len(x32))
    for _ in range(3):
        total32, mistakes32, updates32 = run32(indices, 0.1)
        total64, _, _ = run64(indices, 0.1)
        assert isinstance(total32, float) and np.isfinite(total32)
        assert isinstance(mistakes32, int) and 0 <= mistakes32 <= len(indices)
        assert isinstance(updates32, int) and 0 <= updates32 <= len(indices)
    for M in net32.weights + net32.biases:
        assert M.dtype == np.float32
    # the float32 run follows the float64 one up to single-precision rounding
    assert total32 == pytest.approx(total64, rel=1e-3, abs=1e-4)
    for M32, M64 in zip(net32.weights + net32.biases, net64.weights + net64.biases):
        np.testing.assert_allclose(M32, M64, rtol=1e-3, atol=1e-4)

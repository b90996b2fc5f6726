"""Losses and the output layer's delta = d loss / d z^[L] (nnctl.core.losses), against finite
differences."""

import numpy as np
import pytest

from nnctl.core.activations import OUTPUTS
from nnctl.core.losses import LOSSES, OUTPUT_DELTAS, loss_function
from nnctl.core.rules import SINGLE_LAYER_RULES
from nnctl.engine.reference import backprop, functions

PAIRS = sorted(OUTPUT_DELTAS)
PAIR_IDS = [f"{loss}-{output}" for loss, output in PAIRS]
H = 1e-6


def one_hot(label, classes):
    y = np.zeros(classes)
    y[label] = 1.0
    return y


def numeric_delta(loss, output, z, y):
    """Central-difference gradient of loss(psi(z), y) with respect to each z_k (float64)."""
    psi, fn = OUTPUTS[output], loss_function(loss, output)
    g = np.zeros_like(z)
    for k in range(z.size):
        e = np.zeros_like(z)
        e[k] = H
        g[k] = (fn(psi(z + e), y) - fn(psi(z - e), y)) / (2 * H)
    return g


# softmax of a single unit is the constant 1, so one-unit layers are tried with the other outputs
CASES = [
    (loss, output, classes, seed)
    for loss, output in PAIRS
    for classes in (1, 3, 10)
    if not (classes == 1 and output == "softmax")
    for seed in range(5)
]


@pytest.mark.parametrize(
    "loss,output,classes,seed", CASES, ids=[f"{l}-{o}-{c}units-seed{s}" for l, o, c, s in CASES]
)
def test_delta_is_the_gradient_wrt_z(loss, output, classes, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, classes)
    y = one_hot(rng.integers(classes), classes)
    a = OUTPUTS[output](z)
    analytic = OUTPUT_DELTAS[(loss, output)](a, y)
    assert analytic.shape == z.shape
    np.testing.assert_allclose(analytic, numeric_delta(loss, output, z, y), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("loss,output", PAIRS, ids=PAIR_IDS)
def test_delta_on_a_batch_is_row_by_row(loss, output):
    rng = np.random.default_rng(7)
    z = rng.normal(0.0, 2.0, (6, 4))
    y = np.eye(4)[rng.integers(4, size=6)]
    delta, psi = OUTPUT_DELTAS[(loss, output)], OUTPUTS[output]
    batch = delta(psi(z), y)
    assert batch.shape == z.shape
    for i in range(len(z)):
        np.testing.assert_allclose(batch[i], numeric_delta(loss, output, z[i], y[i]), rtol=1e-6,
                                   atol=1e-8)


@pytest.mark.parametrize("loss,output", PAIRS, ids=PAIR_IDS)
def test_loss_is_per_row_and_nonnegative(loss, output):
    rng = np.random.default_rng(8)
    z = rng.normal(0.0, 2.0, (5, 3))
    y = np.eye(3)[rng.integers(3, size=5)]
    fn, a = loss_function(loss, output), OUTPUTS[output](z)
    per_row = fn(a, y)
    assert per_row.shape == (5,)
    assert np.all(per_row >= 0)
    for i in range(5):
        assert fn(a[i], y[i]) == pytest.approx(per_row[i], rel=1e-12)
    # a perfect output (a = y) costs nothing
    assert np.all(fn(y, y) == 0)


@pytest.mark.parametrize("loss,output", PAIRS, ids=PAIR_IDS)
def test_saturated_wrong_output_gives_large_finite_loss(loss, output):
    z = np.array([[1000.0, -1000.0, -1000.0]])
    y = np.array([[0.0, 1.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        value = loss_function(loss, output)(OUTPUTS[output](z), y)
        delta = OUTPUT_DELTAS[(loss, output)](OUTPUTS[output](z), y)
    assert np.all(np.isfinite(value)) and np.all(value > 0)
    assert np.all(np.isfinite(delta))


def test_cross_entropy_of_sigmoid_is_binary_cross_entropy():
    a = np.array([0.2, 0.7, 0.9])
    y = np.array([0.0, 1.0, 0.0])
    expected = -(np.log(0.8) + np.log(0.7) + np.log(0.1))
    assert loss_function("cross_entropy", "sigmoid")(a, y) == pytest.approx(expected, rel=1e-12)
    assert loss_function("cross_entropy", "softmax")(a, y) == pytest.approx(-np.log(0.7), rel=1e-12)


def test_every_pair_uses_a_known_loss_and_output():
    for loss, output in OUTPUT_DELTAS:
        assert loss in LOSSES
        assert output in OUTPUTS


def test_perceptron_criterion():
    """J = sum_k max(0, -y_k a_k): only the units whose sign disagrees with the +-1 target count."""
    a = np.array([2.0, -0.5, 3.0, -1.0])
    y = np.array([1.0, 1.0, -1.0, -1.0])
    assert LOSSES["perceptron"](a, y) == pytest.approx(0.5 + 3.0)


def test_squared_error_identity_delta_is_the_delta_rule_exactly():
    """With an identity output, the squared error's gradient w.r.t. W is -(y - Wx - b) x^T:
    one step of gradient descent is the Widrow-Hoff update, bit for bit."""
    rng = np.random.default_rng(9)
    W = rng.normal(size=(3, 5))
    b = rng.normal(size=3)
    x = rng.normal(size=5)
    y = np.array([-1.0, 1.0, -1.0])
    z = W @ x + b
    delta = OUTPUT_DELTAS[("squared_error", "identity")](z, y)
    np.testing.assert_array_equal(delta, -(y - z))

    for eta in (1.0, 0.1, 0.0123):
        W_rule, b_rule = W.copy(), b.copy()
        rule_loss, rule_z, _changed = SINGLE_LAYER_RULES["delta"](W_rule, b_rule, x, y, eta)
        np.testing.assert_array_equal(rule_z, z)
        assert rule_loss == LOSSES["squared_error"](z, y)
        # gradient descent along the delta: W - eta * delta x^T
        np.testing.assert_array_equal(W_rule, W - np.outer(eta * delta, x))
        np.testing.assert_array_equal(b_rule, b - eta * delta)

        # and backprop with no hidden layer, squared error, identity output makes the same step
        Wl, bl = [None, W.copy()], [None, b.copy()]
        bp_loss, _a, _changed = backprop(Wl, bl, x, y, eta,
                                         functions("identity", "identity", "squared_error"))
        np.testing.assert_array_equal(Wl[1], W_rule)
        np.testing.assert_array_equal(bl[1], b_rule)
        assert bp_loss == rule_loss


def test_squared_error_identity_gradient_wrt_weights_by_finite_differences():
    rng = np.random.default_rng(10)
    W = rng.normal(size=(2, 3))
    b = rng.normal(size=2)
    x = rng.normal(size=3)
    y = np.array([1.0, -1.0])

    def J(W, b):
        return LOSSES["squared_error"](W @ x + b, y)

    delta = OUTPUT_DELTAS[("squared_error", "identity")](W @ x + b, y)
    num = np.zeros_like(W)
    for j in range(2):
        for i in range(3):
            E = np.zeros_like(W)
            E[j, i] = H
            num[j, i] = (J(W + E, b) - J(W - E, b)) / (2 * H)
    np.testing.assert_allclose(np.outer(delta, x), num, rtol=1e-6, atol=1e-9)

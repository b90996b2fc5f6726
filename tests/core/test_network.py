"""Weight init schemes and the network's parameters (nnctl.core.network).

Each scheme in INITIALIZERS is checked against its own formula, written out again here: the mean,
the variance and (uniform) the bounds or (normal) the share within one standard deviation, on
every layer of a network large enough that the checks are tight. A new scheme fails until its
formula is added to SPREAD.

Tolerances. Each statistic is compared with K = 5 of its standard errors (se below). Seeds are
fixed, so every run draws the same numbers; and a correct scheme would miss a 5-se window only
about once in a million seeds, so changing a seed cannot make these tests flaky. The windows are
narrow enough to see the mistakes that matter: 1/fan_in for 2/fan_in doubles the variance (the
second layer's window is +-6%), fan_out for fan_in triples or quarters it, a Gaussian for
Glorot's uniform of the same variance moves the share within one sd from 0.577 to 0.683 (window
+-0.02) and crosses the bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.network import INITIALIZERS, ROWS_AT_ONCE, init_network

K = 5  # standard errors per tolerance (see the module docstring)
SIZES = [500, 240, 60]  # layers of 120,000 and 14,400 weights; fan_in != fan_out in both
SEED = 0
P_WITHIN_ONE_SD = math.erf(1 / math.sqrt(2))  # 0.6827 for a Gaussian


def _normal(sd):
    return lambda fan_in, fan_out: ("normal", sd(fan_in, fan_out))


def _uniform(bound):
    return lambda fan_in, fan_out: ("uniform", bound(fan_in, fan_out))


# scheme -> (fan_in, fan_out) -> (distribution, its sd (normal) or bound (uniform))
SPREAD = {
    "lecun": _normal(lambda fan_in, fan_out: math.sqrt(1 / fan_in)),  # LeCun: var 1 / fan_in
    "xavier": _uniform(lambda fan_in, fan_out: math.sqrt(6 / (fan_in + fan_out))),  # Glorot
    "he": _normal(lambda fan_in, fan_out: math.sqrt(2 / fan_in)),  # He: var 2 / fan_in
    "normal": _normal(lambda fan_in, fan_out: 1.0),
    "uniform": _uniform(lambda fan_in, fan_out: 1.0),
    "zeros": lambda fan_in, fan_out: ("zeros", 0.0),
}
RANDOM = sorted(name for name in INITIALIZERS if name != "zeros")


def draw(scheme, sizes=SIZES, scale=1.0, seed=SEED, dtype="float64"):
    return init_network(sizes, "sigmoid", "softmax", scheme, scale, np.random.default_rng(seed),
                        dtype)


def test_every_scheme_has_its_formula_here():
    assert set(INITIALIZERS) == set(SPREAD)


def assert_normal(w: np.ndarray, sd: float) -> None:
    n = w.size
    p = P_WITHIN_ONE_SD
    assert abs(w.mean()) <= K * sd / math.sqrt(n)
    assert abs(w.var() - sd**2) <= K * sd**2 * math.sqrt(2 / (n - 1))
    assert abs(np.mean(np.abs(w) <= sd) - p) <= K * math.sqrt(p * (1 - p) / n)


def assert_uniform(w: np.ndarray, bound: float) -> None:
    n = w.size
    assert np.abs(w).max() <= bound
    # P(every |w| < bound (1 - 20 / n)) = (1 - 20 / n)^n ~ exp(-20): the draws reach the bound
    assert np.abs(w).max() >= bound * (1 - 20 / n)
    assert abs(w.mean()) <= K * bound / math.sqrt(3 * n)  # var of U(-b, b) is b^2 / 3
    assert abs(w.var() - bound**2 / 3) <= K * bound**2 * math.sqrt(4 / 45 / n)  # (mu4 - var^2)/n


@pytest.mark.parametrize("scheme", sorted(INITIALIZERS))
def test_weights_follow_the_schemes_formula(scheme):
    network = draw(scheme)
    for l, W in enumerate(network.weights, start=1):
        fan_out, fan_in = W.shape
        kind, spread = SPREAD[scheme](fan_in, fan_out)
        if kind == "normal":
            assert_normal(W, spread)
        elif kind == "uniform":
            assert_uniform(W, spread)
        else:
            assert not W.any(), f"W^[{l}]"


@pytest.mark.parametrize("scale", [0.0, 0.1, 2.5])
@pytest.mark.parametrize("scheme", sorted(INITIALIZERS))
def test_scale_multiplies_the_weights(scheme, scale):
    """model.init.scale multiplies the drawn weights (so their sd or bound), never the biases."""
    unscaled, scaled = draw(scheme), draw(scheme, scale=scale)
    for W, W_scaled in zip(unscaled.weights, scaled.weights):
        np.testing.assert_allclose(W_scaled, scale * W, rtol=1e-15, atol=0)
    for b in scaled.biases:
        assert not b.any()


@pytest.mark.parametrize("scheme", sorted(INITIALIZERS))
def test_shapes_follow_the_slides_and_biases_start_at_zero(scheme):
    sizes = [7, 5, 3, 2]
    network = draw(scheme, sizes, scale=3.0)
    assert [W.shape for W in network.weights] == [(5, 7), (3, 5), (2, 3)]  # W^[l]: out x in
    assert [b.shape for b in network.biases] == [(5,), (3,), (2,)]
    assert network.sizes == sizes
    assert (network.activation, network.output) == ("sigmoid", "softmax")
    for b in network.biases:
        np.testing.assert_array_equal(b, 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scheme", sorted(INITIALIZERS))
def test_dtype_is_respected_and_the_draw_is_float64_cast(scheme, dtype):
    network = draw(scheme, [30, 20, 10], scale=0.7, dtype=dtype)
    assert network.dtype == np.dtype(dtype)
    assert all(a.dtype == np.dtype(dtype) for a in network.weights + network.biases)
    wide = draw(scheme, [30, 20, 10], scale=0.7, dtype="float64")
    for W, W64 in zip(network.weights, wide.weights):
        np.testing.assert_array_equal(W, W64.astype(dtype))


@pytest.mark.parametrize("scheme", RANDOM)
def test_seeds_reproduce(scheme):
    sizes = [40, 40, 40]  # two layers of one shape: each layer has its own draw
    first, again, other = draw(scheme, sizes), draw(scheme, sizes), draw(scheme, sizes, seed=1)
    for W, W_again, W_other in zip(first.weights, again.weights, other.weights):
        np.testing.assert_array_equal(W, W_again)
        assert not np.any(W == W_other)
    assert not np.any(first.weights[0] == first.weights[1])


def test_zeros_is_the_same_for_every_seed():
    for W, W_other in zip(draw("zeros").weights, draw("zeros", seed=1).weights):
        np.testing.assert_array_equal(W, W_other)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logits_apply_the_activation_by_rows_with_the_whole_batchs_numbers(activation, dtype):
    # a batch of 2.5 blocks of rows: the last block short, every block's numbers as if whole
    rows = 2 * ROWS_AT_ONCE + ROWS_AT_ONCE // 2
    network = init_network([20, 16, 12, 10], activation, "softmax", "lecun", 3.0,
                           np.random.default_rng(1), dtype)
    x = np.random.default_rng(2).normal(size=(rows, 20)).astype(dtype)

    def whole(x):  # z^[l] and f(z^[l]) for the whole batch at once
        a = x
        for W, b in zip(network.weights[:-1], network.biases[:-1]):
            a = ACTIVATIONS[activation](a @ W.T + b)
        return a @ network.weights[-1].T + network.biases[-1]

    for batch in (x, x[:3]):  # blocks of rows, the last one short; fewer rows than a block
        got = network.logits(batch)
        assert got.dtype == np.dtype(dtype) and np.array_equal(got, whole(batch))

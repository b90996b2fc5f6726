"""Activations, their derivatives and the output functions (nnctl.core.activations).

Everything is parametrized over the tables, so a new entry in ACTIVATIONS / DERIVATIVES / OUTPUTS
gets the same checks; it fails until its closed form is added to REFERENCE (and a removed entry
fails too: the names here are the names the config accepts and the lecture defines).
"""

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS, DERIVATIVES, OUTPUTS, softmax
from nnctl.errors import ConfigError
from nnctl.io.config import config_from_dict

ALL_FUNCTIONS = (
    [("activation", name, f) for name, f in ACTIVATIONS.items()]
    + [("derivative", name, f) for name, f in DERIVATIVES.items()]
    + [("output", name, f) for name, f in OUTPUTS.items()]
)
ALL_IDS = [f"{kind}-{name}" for kind, name, _ in ALL_FUNCTIONS]

# Independent closed forms of every function in the tables (softmax on one vector).
REFERENCE = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
    "scaled_tanh": lambda z: 1.7159 * (1 - np.exp(-4 * z / 3)) / (1 + np.exp(-4 * z / 3)),
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "identity": lambda z: z,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(),
}

H = 1e-6  # central-difference step: truncation error ~H^2, rounding error ~1e-16 / H ~ 1e-10


def _points():
    """Many points in float64, none within 1e-3 of 0 (relu's kink), some far into saturation."""
    rng = np.random.default_rng(0)
    z = np.concatenate([
        np.linspace(-8.0, 8.0, 400),  # an even count: symmetric, no exact 0
        rng.normal(0.0, 3.0, 400),
        [-30.0, -20.0, 20.0, 30.0],
    ])
    return z[np.abs(z) > 1e-3]


def config_choices(key: str) -> list[str]:
    """The names model.<key> accepts, read from the config's refusal of an unknown one."""
    with pytest.raises(ConfigError, match="choose from") as refused:
        config_from_dict({"model": {key: "no-such-function"}}, "test")
    return str(refused.value).split("choose from ")[1].split(", ")


def test_tables_are_the_known_names_and_the_configs_choices():
    assert list(DERIVATIVES) == list(ACTIVATIONS)  # f and f' side by side, one entry each
    assert set(ACTIVATIONS) == set(KNOWN_POINTS)  # phi: the hidden activations
    assert set(OUTPUTS) == {"softmax", "sigmoid", "identity"}  # psi: the output functions
    assert set(ACTIVATIONS) | set(OUTPUTS) == set(REFERENCE)
    assert config_choices("activation") == list(ACTIVATIONS)
    assert config_choices("output") == list(OUTPUTS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_central_differences(name):
    f, f_prime = ACTIVATIONS[name], DERIVATIVES[name]
    z = _points()
    numeric = (f(z + H) - f(z - H)) / (2 * H)
    analytic = f_prime(z)
    assert analytic.shape == z.shape
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_central_differences_on_a_batch(name):
    """Same check on a (rows, units) batch, as the engine and the forward pass use them."""
    f, f_prime = ACTIVATIONS[name], DERIVATIVES[name]
    z = np.random.default_rng(1).normal(0.0, 2.0, (6, 7))
    z[np.abs(z) < 1e-3] = 0.5
    numeric = (f(z + H) - f(z - H)) / (2 * H)
    np.testing.assert_allclose(f_prime(z), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) | set(OUTPUTS)))
def test_matches_closed_form(name):
    z = np.linspace(-10.0, 10.0, 201)
    for table in (ACTIVATIONS, OUTPUTS):
        if name in table:
            np.testing.assert_allclose(table[name](z), REFERENCE[name](z), rtol=1e-12, atol=1e-15)


# (z, f(z), f'(z)) worked out by hand: log 3 makes exp(-z) = 1/3, log 2 makes exp(z) = 2.
KNOWN_POINTS = {
    "sigmoid": [(0.0, 0.5, 0.25), (np.log(3.0), 0.75, 0.1875)],
    "tanh": [(0.0, 0.0, 1.0), (np.log(2.0), 0.6, 0.64)],
    # 1.7159 tanh(2z/3): z = 3/2 log 2 makes tanh(2z/3) = 0.6, so f' = 1.7159 (2/3) 0.64
    "scaled_tanh": [(0.0, 0.0, 1.7159 * 2.0 / 3.0), (1.5 * np.log(2.0), 1.7159 * 0.6,
                                                     1.7159 * 2.0 / 3.0 * 0.64)],
    "relu": [(-2.0, 0.0, 0.0), (3.0, 3.0, 1.0)],
    "softplus": [(0.0, np.log(2.0), 0.5), (np.log(3.0), np.log(4.0), 0.75)],
    "identity": [(-2.5, -2.5, 1.0), (4.0, 4.0, 1.0)],
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_values_at_known_points(name):
    z, f, f_prime = (np.array(column) for column in zip(*KNOWN_POINTS[name]))
    np.testing.assert_allclose(ACTIVATIONS[name](z), f, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(DERIVATIVES[name](z), f_prime, rtol=1e-14, atol=1e-15)


def test_relu_derivative_at_zero_follows_the_slide():
    """The slide defines f'(z) = 1 for z >= 0."""
    z = np.array([0.0, -0.0, -1e-300, 1e-300])
    assert DERIVATIVES["relu"](z).tolist() == [1.0, 1.0, 0.0, 1.0]


def strict():
    """Overflow, invalid (NaN) and division by zero raise. Underflow to 0 (exp(-2000) in softmax,
    log(1 + exp(-1000)) in softplus) is the correct, harmless rounding, so it is allowed."""
    return np.errstate(over="raise", invalid="raise", divide="raise", under="ignore")


EXTREMES = np.array([-1000.0, -700.0, -50.0, -1.0, 0.0, 1.0, 50.0, 700.0, 1000.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind,name,f", ALL_FUNCTIONS, ids=ALL_IDS)
def test_no_overflow_or_nan_at_extremes(kind, name, f, dtype):
    z = EXTREMES.astype(dtype)
    with strict():
        out = f(z)
        out_batch = f(np.stack([z, -z, z[::-1]]))
    assert np.all(np.isfinite(out))
    assert np.all(np.isfinite(out_batch))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_saturated_values(dtype):
    big = np.array([-1000.0, 1000.0], dtype=dtype)
    with strict():
        assert OUTPUTS["sigmoid"](big).tolist() == [0.0, 1.0]
        assert DERIVATIVES["sigmoid"](big).tolist() == [0.0, 0.0]
        sp = ACTIVATIONS["softplus"](big)
        assert 0.0 <= sp[0] < 1e-30
        assert sp[1] == 1000.0
        p = softmax(np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, -1000.0]], dtype=dtype))
    np.testing.assert_allclose(p, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=1e-7)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_softmax_rows_sum_to_one(scale, dtype):
    z = (np.random.default_rng(2).normal(0.0, scale, (9, 10))).astype(dtype)
    with strict():
        p = softmax(z)
    assert p.shape == z.shape
    assert np.all(p >= 0) and np.all(p <= 1)
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=tol)
    # one vector on its own too
    np.testing.assert_allclose(softmax(z[0]).sum(), 1.0, atol=tol)


def test_softmax_is_shift_invariant_and_rowwise():
    z = np.random.default_rng(3).normal(0.0, 2.0, (5, 4))
    p = softmax(z)
    np.testing.assert_allclose(softmax(z + 123.0), p, rtol=1e-10)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)
    for i in range(len(z)):
        np.testing.assert_allclose(softmax(z[i]), p[i], rtol=1e-12)


@pytest.mark.parametrize("kind,name,f", ALL_FUNCTIONS, ids=ALL_IDS)
def test_batch_equals_row_by_row(kind, name, f):
    z = np.random.default_rng(4).normal(0.0, 2.0, (4, 6))
    batch = f(z)
    for i in range(len(z)):
        np.testing.assert_allclose(batch[i], f(z[i]), rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(7,), (3, 5)])
@pytest.mark.parametrize("kind,name,f", ALL_FUNCTIONS, ids=ALL_IDS)
def test_dtype_is_kept(kind, name, f, shape, dtype):
    z = np.random.default_rng(5).normal(0.0, 3.0, shape).astype(dtype)
    out = f(z)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == shape

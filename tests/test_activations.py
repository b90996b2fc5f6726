"""Activations, their derivatives and the output functions (nnctl.activations).

Everything is parametrized over the tables, so a new entry in ACTIVATIONS / DERIVATIVES / OUTPUTS
gets the same checks without editing this file.
"""

import numpy as np
import pytest

from nnctl.activations import ACTIVATIONS, DERIVATIVES, OUTPUTS, softmax

ALL_FUNCTIONS = (
    [("activation", name, f) for name, f in ACTIVATIONS.items()]
    + [("derivative", name, f) for name, f in DERIVATIVES.items()]
    + [("output", name, f) for name, f in OUTPUTS.items()]
)
ALL_IDS = [f"{kind}-{name}" for kind, name, _ in ALL_FUNCTIONS]

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


def test_tables_have_the_same_names():
    assert set(ACTIVATIONS) == set(DERIVATIVES)
    assert len(ACTIVATIONS) > 0


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_has_a_derivative(name):
    assert name in DERIVATIVES
    assert callable(DERIVATIVES[name])


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_every_derivative_has_an_activation(name):
    assert name in ACTIVATIONS
    assert callable(ACTIVATIONS[name])


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


# Independent closed forms, for the names this file knows (new names are simply not checked here).
REFERENCE = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "identity": lambda z: z,
}


@pytest.mark.parametrize("name", sorted(set(REFERENCE) & (set(ACTIVATIONS) | set(OUTPUTS))))
def test_matches_closed_form(name):
    z = np.linspace(-10.0, 10.0, 201)
    for table in (ACTIVATIONS, OUTPUTS):
        if name in table:
            np.testing.assert_allclose(table[name](z), REFERENCE[name](z), rtol=1e-12, atol=1e-15)


def test_relu_derivative_at_zero_follows_the_slide():
    """The slide defines f'(z) = 1 for z >= 0."""
    if "relu" not in DERIVATIVES:
        pytest.skip("no relu")
    assert DERIVATIVES["relu"](np.array([0.0, -0.0, -1e-300, 1e-300])).tolist() == [1.0, 1.0, 0.0, 1.0]


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
        if "sigmoid" in OUTPUTS:
            assert OUTPUTS["sigmoid"](big).tolist() == [0.0, 1.0]
        if "sigmoid" in DERIVATIVES:
            assert DERIVATIVES["sigmoid"](big).tolist() == [0.0, 0.0]
        if "softplus" in ACTIVATIONS:
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

"""The lecture's single-layer rules (nnctl.core.rules) and what they can and cannot learn, trained
through the reference engine's run_chunk: perceptron convergence, the delta rule's least-squares
limit, XOR beyond a single layer but within one hidden layer, and the targets each rule learns."""

import numpy as np
import pytest

from nnctl.core.losses import LOSSES, OUTPUT_DELTAS, loss_function
from nnctl.core.network import init_network
from nnctl.core.rules import SINGLE_LAYER_RULES, TARGETS, one_hot, plus_minus_one
from nnctl.engine import make_engine
from nnctl.io.config import RULE_LOSS


def blobs(rng, n_per_class, centre, std):
    """Two Gaussian blobs at +centre (class 0) and -centre (class 1), shuffled."""
    centre = np.asarray(centre, dtype=float)
    x = np.concatenate([
        rng.normal(0.0, std, (n_per_class, len(centre))) + centre,
        rng.normal(0.0, std, (n_per_class, len(centre))) - centre,
    ])
    labels = np.repeat([0, 1], n_per_class)
    order = rng.permutation(len(x))
    return x[order], labels[order]


def params(net):
    return [M.copy() for M in net.weights + net.biases]


def same(p, q):
    return all(np.array_equal(a, b) for a, b in zip(p, q))


# ------------------------------------------------------------------------------------ perceptron

def separable_problem(seed=0):
    rng = np.random.default_rng(seed)
    x, labels = blobs(rng, 30, [2.0, 2.0], 0.6)
    targets = TARGETS["perceptron"](labels, 2, "float64")
    return x, labels, targets


def test_blobs_are_linearly_separable():
    """The premise of the convergence tests: u = (1, 1)/sqrt(2), no bias, separates the blobs."""
    x, _labels, targets = separable_problem()
    u = np.array([1.0, 1.0]) / np.sqrt(2)
    assert np.all(targets[:, 0] * (x @ u) > 0.5)
    assert np.all(targets[:, 1] * (x @ -u) > 0.5)


def test_perceptron_updates_stay_within_novikoffs_bound():
    """Starting from w = 0, unit k makes at most (R / gamma_k)^2 updates (Novikoff), where R bounds
    the extended inputs [x, 1] and gamma_k is the margin of a unit-norm separator. Counted one
    example at a time through run_chunk; after the last update an epoch has zero mistakes."""
    x, labels, targets = separable_problem()
    rng = np.random.default_rng(1)
    net = init_network([2, 2], "identity", "identity", "zeros", 1.0, rng, "float64")
    run_chunk = make_engine("reference", net, x, targets, labels, "perceptron",
                            RULE_LOSS["perceptron"])

    x1 = np.hstack([x, np.ones((len(x), 1))])
    R = np.linalg.norm(x1, axis=1).max()
    u = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    gammas = [(targets[:, 0] * (x1 @ u)).min(), (targets[:, 1] * (x1 @ -u)).min()]
    assert min(gammas) > 0
    bounds = [(R / g) ** 2 for g in gammas]

    updates = np.zeros(2, dtype=int)
    converged_at = None
    for epoch in range(200):
        epoch_mistakes = 0
        changed = False
        for n in rng.permutation(len(x)):
            before = params(net)
            _loss, mistakes, _updates = run_chunk(np.array([n]), 1.0)
            epoch_mistakes += mistakes
            rows = (net.weights[0] != before[0]).any(axis=1) | (net.biases[0] != before[1])
            updates += rows
            changed |= bool(rows.any())
        if not changed:
            converged_at = epoch
            assert epoch_mistakes == 0
            break
    assert converged_at is not None, "no epoch without an update within 200 epochs"
    assert np.all(updates <= bounds), (updates, bounds)
    assert updates.sum() > 0


@pytest.mark.parametrize("init,eta", [("zeros", 1.0), ("lecun", 0.1), ("normal", 0.5)])
def test_perceptron_reaches_an_epoch_with_no_mistakes_and_then_stops(init, eta):
    x, labels, targets = separable_problem(seed=2)
    rng = np.random.default_rng(3)
    net = init_network([2, 2], "identity", "identity", init, 1.0, rng, "float64")
    run_chunk = make_engine("reference", net, x, targets, labels, "perceptron",
                            RULE_LOSS["perceptron"])

    max_epochs = 100
    for epoch in range(max_epochs):
        before = params(net)
        loss, mistakes, _updates = run_chunk(rng.permutation(len(x)), eta)
        if mistakes == 0 and same(before, params(net)):
            assert loss == 0.0
            break
    else:
        pytest.fail(f"the perceptron did not converge within {max_epochs} epochs")

    # every unit now puts every example strictly on its side of the hyperplane
    z = x @ net.weights[0].T + net.biases[0]
    assert np.all(targets * z > 0)
    assert np.all(z.argmax(axis=1) == labels)

    # from here on the weights no longer change, whatever the order of the examples
    frozen = params(net)
    for _ in range(5):
        loss, mistakes, _updates = run_chunk(rng.permutation(len(x)), eta)
        assert (loss, mistakes) == (0.0, 0)
        assert same(frozen, params(net))


def test_perceptron_rule_one_step():
    """w_k <- w_k + eta y_k x for the units whose score has the wrong sign (0 counts as wrong)."""
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    b = np.array([0.0, 0.5, 0.0])
    x = np.array([2.0, -1.0])
    y = np.array([1.0, 1.0, -1.0])  # scores 2 (right), -0.5 (wrong), 0 (no sign: wrong)
    loss, z, changed = SINGLE_LAYER_RULES["perceptron"](W, b, x, y, 0.5)
    np.testing.assert_array_equal(z, [2.0, -0.5, 0.0])
    np.testing.assert_array_equal(W, [[1.0, 0.0], [1.0, 0.5], [-1.0, 0.5]])
    np.testing.assert_array_equal(b, [0.0, 1.0, -0.5])
    assert loss == 0.5 and changed is True
    assert loss == LOSSES[RULE_LOSS["perceptron"]](z, y)
    right = np.array([1.0, 1.0, -1.0])  # scores now 2, 2.5, -3: all of the right sign
    before = W.copy()
    assert SINGLE_LAYER_RULES["perceptron"](W, b, x, right, 0.5)[2] is False
    np.testing.assert_array_equal(W, before)


# ---------------------------------------------------------------------------------- delta rule

def train_delta(x, labels, targets, eta, epochs):
    rng = np.random.default_rng(0)
    net = init_network([x.shape[1], 2], "identity", "identity", "zeros", 1.0, rng, "float64")
    run_chunk = make_engine("reference", net, x, targets, labels, "delta", RULE_LOSS["delta"])
    order = np.arange(len(x))  # a fixed cyclic order: the iterates settle on a limit cycle
    for _ in range(epochs):
        total, _, _ = run_chunk(order, eta)
    return np.hstack([net.weights[0], net.biases[0][:, None]]), total


def test_delta_rule_converges_to_least_squares():
    """Widrow-Hoff with a small fixed step eta, over many epochs, ends near the least-squares
    solution of [x, 1] w = y (y = +-1, overlapping blobs: not separable, there is noise).

    Tolerance: per-example steps with a fixed eta do not stop at w_LS (each example's gradient is
    nonzero there, only their sum vanishes); the end-of-epoch iterate tends to
    w_LS + eta c + O(eta^2), i.e. a relative error proportional to eta (about 8 eta for these
    data). So we check
      - the relative error is at most 25 eta (5% at eta = 0.002; a wrong update is off by O(1)),
      - halving eta halves the error (ratio in [0.4, 0.6]): the error is that O(eta) bias, and
      - Richardson extrapolation 2 w(eta/2) - w(eta) cancels it: within 2e-3 (measured ~2e-4).
    The number of epochs makes the transient negligible: from w = 0 the error shrinks per epoch by
    about (1 - eta lambda_min), lambda_min the smallest eigenvalue of X1^T X1, so
    40 / (eta lambda_min) epochs leave a factor e^-40."""
    rng = np.random.default_rng(0)
    x, labels = blobs(rng, 20, [0.7, 0.7], 1.0)
    targets = TARGETS["delta"](labels, 2, "float64")
    X1 = np.hstack([x, np.ones((len(x), 1))])
    w_ls = np.linalg.lstsq(X1, targets, rcond=None)[0].T  # one row [w_k, b_k] per unit
    lam_min = np.linalg.eigvalsh(X1.T @ X1).min()
    # not separable: the least-squares fit leaves errors, so the perceptron's premise is absent
    assert ((X1 @ w_ls.T).argmax(axis=1) != labels).any()

    def rel_err(w):
        return np.linalg.norm(w - w_ls) / np.linalg.norm(w_ls)

    eta = 0.004
    w_big, _ = train_delta(x, labels, targets, eta, int(np.ceil(40 / (eta * lam_min))))
    w_small, total = train_delta(x, labels, targets, eta / 2, int(np.ceil(80 / (eta * lam_min))))

    assert rel_err(w_small) <= 25 * (eta / 2)
    assert rel_err(w_big) <= 25 * eta
    assert 0.4 <= rel_err(w_small) / rel_err(w_big) <= 0.6
    assert rel_err(2 * w_small - w_big) <= 2e-3
    # the epoch's summed loss is close to the least-squares residual
    ls_loss = LOSSES["squared_error"](X1 @ w_ls.T, targets).sum()
    assert total == pytest.approx(ls_loss, rel=0.05)


# ------------------------------------------------------------------------------------------- XOR

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_LABELS = np.array([0, 1, 1, 0])

# every way to train a single layer: each rule with its criterion, backprop with each output pair
SINGLE_LAYER = [(rule, RULE_LOSS[rule], "identity") for rule in sorted(SINGLE_LAYER_RULES)] + [
    ("backprop", loss, output) for loss, output in sorted(OUTPUT_DELTAS)
]


@pytest.mark.parametrize("rule,loss,output", SINGLE_LAYER, ids=["-".join(c) for c in SINGLE_LAYER])
def test_single_layer_cannot_learn_xor(rule, loss, output):
    """argmax over the units of a single layer splits the plane by hyperplanes: no epoch and no
    final set of weights classifies all four XOR points."""
    rng = np.random.default_rng(0)
    targets = TARGETS[rule](XOR_LABELS, 2, "float64")
    net = init_network([2, 2], "identity", output, "lecun", 1.0, rng, "float64")
    run_chunk = make_engine("reference", net, XOR_X, targets, XOR_LABELS, rule, loss)
    for _ in range(300):
        _, mistakes, _ = run_chunk(rng.permutation(4), 0.1)
        assert mistakes >= 1
    assert (net.forward(XOR_X).argmax(axis=1) != XOR_LABELS).sum() >= 1


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_one_hidden_layer_learns_xor(activation, seed):
    """2-4-2 MLP, softmax + cross-entropy, per-example SGD through the reference engine."""
    rng = np.random.default_rng(seed)
    targets = TARGETS["backprop"](XOR_LABELS, 2, "float64")
    net = init_network([2, 4, 2], activation, "softmax", "xavier", 1.0, rng, "float64")
    run_chunk = make_engine("reference", net, XOR_X, targets, XOR_LABELS, "backprop",
                            "cross_entropy")
    first_total, _, _ = run_chunk(rng.permutation(4), 1.0)
    for _ in range(1000):
        total, mistakes, _ = run_chunk(rng.permutation(4), 1.0)
    a = net.forward(XOR_X)
    np.testing.assert_array_equal(a.argmax(axis=1), XOR_LABELS)
    assert mistakes == 0
    mean_loss = loss_function("cross_entropy", "softmax")(a, targets).mean()
    assert mean_loss < 0.1
    assert total < first_total


# --------------------------------------------------------------------------------------- targets

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_hot(dtype):
    y = one_hot(np.array([2, 0, 1, 2]), 3, dtype)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_plus_minus_one(dtype):
    y = plus_minus_one(np.array([2, 0, 1]), 4, dtype)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y, [[-1, -1, 1, -1], [1, -1, -1, -1], [-1, 1, -1, -1]])


def test_every_rule_has_targets():
    assert set(SINGLE_LAYER_RULES) | {"backprop"} == set(TARGETS)


@pytest.mark.parametrize("rule", sorted(TARGETS))
def test_targets_per_rule(rule):
    """Backprop learns one-hot targets; the threshold-unit rules learn +-1 one-vs-rest targets."""
    labels = np.random.default_rng(0).integers(10, size=50)
    y = TARGETS[rule](labels, 10, "float32")
    assert y.shape == (50, 10) and y.dtype == np.float32
    np.testing.assert_array_equal(y.argmax(axis=1), labels)
    off = 0.0 if rule == "backprop" else -1.0
    expected = np.full((50, 10), off, dtype=np.float32)
    expected[np.arange(50), labels] = 1.0
    np.testing.assert_array_equal(y, expected)

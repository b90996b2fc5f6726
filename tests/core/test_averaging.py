"""The moving average of the epochs' weights (nnctl.core.averaging), worked by hand."""

import numpy as np

from nnctl.core.averaging import start_average, update_average
from nnctl.core.network import Network


def network(w: float, b: float, dtype: str = "float64") -> Network:
    return Network([np.full((2, 3), w, dtype)], [np.full(2, b, dtype)], "sigmoid", "softmax")


def test_the_average_starts_as_a_copy_and_moves_a_fraction_one_minus_beta():
    sgd = network(4.0, -2.0)
    average = start_average(sgd)  # after epoch 1: W_avg = W
    sgd.weights[0][...] = 8.0  # SGD moves on; the copy does not
    sgd.biases[0][...] = 2.0
    assert average.weights[0].tolist() == [[4.0] * 3] * 2
    update_average(average, sgd, 0.75)  # W_avg + (1 - 0.75)(W - W_avg): 4 + 1, -2 + 1
    assert average.weights[0].tolist() == [[5.0] * 3] * 2
    assert average.biases[0].tolist() == [-1.0, -1.0]
    update_average(average, sgd, 0.75)  # 5 + 0.75, -1 + 0.75
    assert average.weights[0].tolist() == [[5.75] * 3] * 2
    assert average.biases[0].tolist() == [-0.25, -0.25]
    assert sgd.weights[0].tolist() == [[8.0] * 3] * 2  # the weights SGD reached are untouched


def test_beta_zero_follows_sgd_and_the_dtype_stays():
    sgd = network(1.5, 0.5, "float32")
    average = start_average(network(-3.0, 7.0, "float32"))
    update_average(average, sgd, 0.0)
    assert average.weights[0].dtype == np.float32 and average.biases[0].dtype == np.float32
    np.testing.assert_array_equal(average.weights[0], sgd.weights[0])
    np.testing.assert_array_equal(average.biases[0], sgd.biases[0])


def test_an_epochs_weights_count_one_minus_beta_times_beta_to_the_epochs_since():
    """After epochs 1..T the average is sum_t c_t W_t with c_1 = beta^(T-1) and
    c_t = (1 - beta) beta^(T-t) for t >= 2: the weights sum to 1."""
    rng = np.random.default_rng(0)
    beta, epochs = 0.8, 6
    reached = [rng.normal(size=(3, 4)) for _ in range(epochs)]
    average = start_average(Network([reached[0].copy()], [np.zeros(3)], "relu", "softmax"))
    for W in reached[1:]:
        update_average(average, Network([W], [np.zeros(3)], "relu", "softmax"), beta)
    T = epochs
    weights = [beta ** (T - 1)] + [(1 - beta) * beta ** (T - t) for t in range(2, T + 1)]
    assert abs(sum(weights) - 1.0) < 1e-12
    expected = sum(c * W for c, W in zip(weights, reached))
    np.testing.assert_allclose(average.weights[0], expected, rtol=1e-12, atol=1e-12)

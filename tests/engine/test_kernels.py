"""engine/kernels.py: the codes of the tables' names and the packed layout of the weights that
both compiled kernels read."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS, OUTPUTS
from nnctl.core.losses import LOSSES
from nnctl.core.network import init_network
from nnctl.core.rules import SINGLE_LAYER_RULES
from nnctl.engine import kernels


def test_fused_engine_knows_every_table_entry():
    assert set(kernels.ACTIVATION_CODES) == set(ACTIVATIONS)
    assert set(kernels.OUTPUT_CODES) == set(OUTPUTS)
    assert set(kernels.LOSS_CODES) == set(LOSSES)
    assert set(kernels.RULE_CODES) == {"backprop", *SINGLE_LAYER_RULES}


def assert_packed(packed: kernels.PackedWeights, network) -> None:
    """`packed` holds the network's weights and biases, its padding zero or not."""
    W1T, b1, params, w_off, b_off = packed
    sizes = network.sizes
    np.testing.assert_array_equal(W1T[:, : sizes[1]], network.weights[0].T)
    np.testing.assert_array_equal(b1[: sizes[1]], network.biases[0])
    for l in range(2, len(sizes)):
        rows = params[w_off[l] : b_off[l]].reshape(sizes[l], -1)
        np.testing.assert_array_equal(rows[:, : sizes[l - 1]], network.weights[l - 1])
        np.testing.assert_array_equal(params[b_off[l] : b_off[l] + sizes[l]],
                                      network.biases[l - 1])


@pytest.mark.parametrize("sizes", [[30, 10], [30, 17, 10], [30, 40, 5, 3]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_packed_weights_hold_the_network_on_cache_lines_and_unpack_to_it(sizes, dtype):
    network = init_network(sizes, "tanh", "softmax", "lecun", 1.0, np.random.default_rng(0),
                           dtype)
    packed = kernels.pack_weights(network)
    assert_packed(packed, network)
    W1T, b1, params, w_off, b_off = packed
    assert W1T.shape[1] % kernels.PAD == 0 and not W1T[:, sizes[1] :].any()
    for l in range(2, len(sizes)):  # every row of W^[l] and b^[l] starts on a cache line
        row = kernels.padded(sizes[l - 1])
        assert row % kernels.PAD == 0 and (b_off[l] - w_off[l]) == sizes[l] * row
        assert (w_off[l] * params.itemsize) % kernels.LINE == 0
        assert (b_off[l] * params.itemsize) % kernels.LINE == 0
    assert all(a.ctypes.data % kernels.LINE == 0 for a in (W1T, b1, params) if a.size)
    before = [w.copy() for w in network.weights + network.biases]
    for array in (W1T, b1, params):  # the kernels' steps, say
        array += 0.5
    kernels.unpack_weights(packed, network)
    assert_packed(packed, network)
    assert all(np.array_equal(new, old + 0.5)
               for new, old in zip(network.weights + network.biases, before))
    assert network.weights[0].dtype == np.dtype(dtype)

"""Averaging the weights over epochs: the model a run validates, saves and tests is not the last
weights SGD reached but a moving average of the weights it reached at the end of each epoch
(Polyak & Juditsky 1992 average every step's weights; this is the cheap form, once per epoch).

With beta = training.average (0 <= beta < 1; 0 = off), for every weight and bias:

    W_avg = W                                  after epoch 1,
    W_avg <- beta W_avg + (1 - beta) W         after every later epoch,

written as W_avg <- W_avg + (1 - beta)(W - W_avg): each epoch moves the average a fraction
1 - beta of the way to where SGD is now. SGD goes on from its own W; the average only follows.
Late in training the weights jitter around a minimum by about the step size; their average lies
nearer its middle. An epoch's weights count (1 - beta) beta^k after k more epochs: beta = 0.8
averages over the last five epochs or so, 0.9 over the last ten.
"""

from __future__ import annotations

from nnctl.core.network import Network


def start_average(network: Network) -> Network:
    """W_avg = W: the average after the first epoch, a copy of the network's weights."""
    return network.copy()


def update_average(average: Network, network: Network, beta: float) -> None:
    """W_avg <- W_avg + (1 - beta)(W - W_avg) in place, for every weight and bias, in the
    weights' dtype."""
    for A, W in zip(average.weights + average.biases, network.weights + network.biases):
        A += (1.0 - beta) * (W - A)

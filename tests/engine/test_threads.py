"""The fused engine's two-part kernel (sgd_chunk_parts) gives the reference engine's weights, and
the same numbers whether its parts run in two threads or one, whatever the timing.

Tolerances as in tests/test_engines.py (float64 1e-10, float32 1e-4 relative to the largest
weight of the layer): the parts add their shares of a sum in another order than the reference
engine's BLAS, nothing else. Between runs of the kernel itself the weights must be bit-identical.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.dropout import keep_factors
from nnctl.core.network import init_network
from nnctl.core.rules import one_hot
from nnctl.engine import Diverged, fused, make_engine
from nnctl.engine import threads as parts
from nnctl.io.config import DataConfig
from nnctl.io.examples import data_paths, make_dataset
from nnctl.io.idx import read_examples

N_EXAMPLES = 1500
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
# hidden layers: odd sizes, a layer narrower than two (part 0 owns no unit of it), three layers
HIDDEN = [[13, 7], [33, 1, 5], [40, 17, 9]]


class Fixed:
    """A schedule (parts.Pace's interface) that runs the pieces of chunk k in threads(k) and
    threads(k + 1) threads."""

    def __init__(self, threads):
        self.chunks, self.choose, self.used = 0, threads, []

    def plan(self) -> tuple[int, int]:
        self.chunks += 1
        self.used += [self.choose(self.chunks), self.choose(self.chunks + 1)]
        return self.used[-2], self.used[-1]

    def timed(self, threads: int, seconds_per_example: float) -> None:
        pass


IN_TWO, IN_ONE, ALTERNATING = (lambda k: 2), (lambda k: 1), (lambda k: 1 + k % 2)


@pytest.fixture(scope="module")
def sample():
    paths = data_paths(DataConfig())
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    return images[:N_EXAMPLES].copy(), labels[:N_EXAMPLES].copy()


def train(engine, sample, dtype, hidden, activation, *, output="softmax", loss="cross_entropy",
          p_hidden=0.0, chunks=(700,), schedule=IN_TWO, eta=0.01, own_inputs=False):
    """One pass over the sample in the given chunk sizes (repeated); returns the network, the
    chunk results and the schedule."""
    images, labels = sample
    dataset = make_dataset(images, labels, dtype, "sample")
    sizes = [dataset.x.shape[1], *hidden, 10]
    network = init_network(sizes, activation, output, "lecun", 1.0, np.random.default_rng(0),
                           dtype)
    targets = one_hot(labels, 10, dtype)
    if engine == "reference":
        run_chunk = make_engine("reference", network, dataset.x, targets, labels, "backprop",
                                loss)
    else:
        schedule = Fixed(schedule) if schedule else None  # None: parts.Pace
        run_chunk = fused.make(network, dataset.x, targets, labels, "backprop", loss, threads=2,
                               schedule=schedule)
    order = np.random.default_rng(1).permutation(len(labels))
    keep = (keep_factors(p_hidden, (len(order), sum(hidden)), np.random.default_rng(2), dtype)
            if p_hidden else None)
    results, start, k = [], 0, 0
    while start < len(order):
        end = min(start + chunks[k % len(chunks)], len(order))
        inputs = dataset.x[order[start:end]] if own_inputs else None
        results.append(run_chunk(order[start:end], eta, inputs,
                                 None if keep is None else keep[start:end]))
        start, k = end, k + 1
    return network, results, schedule


def arrays(network):
    return network.weights + network.biases


def assert_identical(a, b):
    for A, B in zip(arrays(a), arrays(b)):
        np.testing.assert_array_equal(A, B)


def cases():
    for i, activation in enumerate(sorted(ACTIVATIONS)):
        for dtype in ("float64", "float32"):
            for p_hidden in (0.0, 0.3):
                yield activation, dtype, HIDDEN[i % len(HIDDEN)], p_hidden


@pytest.mark.slow
@pytest.mark.parametrize("activation,dtype,hidden,p_hidden", list(cases()))
def test_two_threads_match_the_reference_engine(sample, activation, dtype, hidden, p_hidden):
    ref, ref_results, _ = train("reference", sample, dtype, hidden, activation, p_hidden=p_hidden)
    two, two_results, schedule = train("fused", sample, dtype, hidden, activation,
                                       p_hidden=p_hidden)
    assert set(schedule.used) == {2}
    tol = TOLERANCE[dtype]
    for l, (A, B) in enumerate(zip(arrays(ref), arrays(two))):
        assert A.dtype == B.dtype == np.dtype(dtype) and A.shape == B.shape
        scale = max(np.abs(A).max(), 1e-12)
        assert np.abs(A - B).max() / scale <= tol, f"array {l}"
    assert sum(r.loss for r in two_results) == pytest.approx(sum(r.loss for r in ref_results),
                                                             rel=tol)
    mistakes = [sum(r.mistakes for r in results) for results in (ref_results, two_results)]
    assert abs(mistakes[0] - mistakes[1]) <= (0 if dtype == "float64" else 2)
    assert sum(r.updates for r in two_results) == N_EXAMPLES


@pytest.mark.parametrize("output,loss", [("sigmoid", "squared_error"), ("softmax",
                                                                         "squared_error")])
def test_other_outputs_and_losses_match_too(sample, output, loss):
    args = (sample, "float64", [21, 11], "tanh")
    ref, _, _ = train("reference", *args, output=output, loss=loss)
    two, _, _ = train("fused", *args, output=output, loss=loss)
    for A, B in zip(arrays(ref), arrays(two)):
        assert np.abs(A - B).max() / np.abs(A).max() <= TOLERANCE["float64"]


def test_training_moved_the_weights_far_beyond_the_tolerance(sample):
    trained, _, _ = train("fused", sample, "float32", [13, 7], "relu")
    initial = init_network([784, 13, 7, 10], "relu", "softmax", "lecun", 1.0,
                           np.random.default_rng(0), "float32")
    for A, B in zip(arrays(trained), arrays(initial)):
        assert np.abs(A - B).max() / max(np.abs(B).max(), 1e-3) > 100 * TOLERANCE["float32"]


@pytest.mark.slow
@pytest.mark.parametrize("hidden", [[37, 23], [12], [50, 7, 9]])
def test_the_same_numbers_in_two_threads_or_one_whatever_the_chunks(sample, hidden):
    """Two runs in two threads, one in one thread, one switching every chunk, one as Pace
    chooses, in other chunk sizes: bit-identical weights and the same chunk sums."""
    args = (sample, "float32", hidden, "sigmoid")
    first, first_results, _ = train("fused", *args, p_hidden=0.2)
    for schedule in (IN_TWO, IN_ONE, ALTERNATING):
        again, results, used = train("fused", *args, p_hidden=0.2, schedule=schedule)
        assert set(used.used) == {schedule(1), schedule(2)}  # ran as told
        assert_identical(first, again)
        assert results == first_results
    paced, _, _ = train("fused", *args, p_hidden=0.2, schedule=None)
    assert_identical(first, paced)
    other_chunks, _, _ = train("fused", *args, p_hidden=0.2, chunks=(1, 255, 1024),
                               schedule=ALTERNATING)
    assert_identical(first, other_chunks)


def test_a_new_engine_on_the_stored_weights_goes_on_exactly(sample):
    """As when a run resumes mid-epoch: the engine is made again from the network's arrays."""
    images, labels = sample
    dataset = make_dataset(images, labels, "float32", "sample")
    targets = one_hot(labels, 10, "float32")
    order = np.random.default_rng(1).permutation(len(labels))
    networks = []
    for stops in ([], [600]):
        network = init_network([784, 25, 15, 10], "relu", "softmax", "lecun", 1.0,
                               np.random.default_rng(0), "float32")
        start = 0
        for stop in [*stops, len(order)]:
            run_chunk = fused.make(network, dataset.x, targets, labels, "backprop",
                                   "cross_entropy", threads=2, schedule=Fixed(ALTERNATING))
            run_chunk(order[start:stop], 0.05)
            start = stop
        networks.append(network)
    assert_identical(*networks)


def test_chunk_inputs_train_exactly_as_indexed_inputs(sample):
    indexed, indexed_results, _ = train("fused", sample, "float32", [19, 9], "softplus")
    own, own_results, _ = train("fused", sample, "float32", [19, 9], "softplus", own_inputs=True)
    assert_identical(indexed, own)
    assert indexed_results == own_results


@pytest.mark.parametrize("schedule", [IN_TWO, IN_ONE])
def test_divergence_stops_both_threads_at_the_same_example(sample, schedule):
    with pytest.raises(Diverged) as diverged:
        train("fused", sample, "float64", [30, 20], "identity", eta=50.0, chunks=(N_EXAMPLES,),
              schedule=schedule)
    assert 0 < diverged.value.done < N_EXAMPLES
    assert not any(t.name == "nnctl-part-1" for t in threading.enumerate())
    if schedule is IN_ONE:  # the two ways stop at the same example
        with pytest.raises(Diverged) as in_two:
            train("fused", sample, "float64", [30, 20], "identity", eta=50.0,
                  chunks=(N_EXAMPLES,))
        assert in_two.value.done == diverged.value.done


def test_without_a_thread_to_be_had_one_thread_runs_both_parts(sample, monkeypatch):
    expected, expected_results, _ = train("fused", sample, "float32", [13, 7], "relu")

    def refuse(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    got, results, _ = train("fused", sample, "float32", [13, 7], "relu")
    assert_identical(expected, got)
    assert results == expected_results


def test_no_helper_thread_outlives_its_chunk(sample):
    train("fused", sample, "float32", [13, 7], "tanh", chunks=(300,))
    assert not any(t.name == "nnctl-part-1" for t in threading.enumerate())


def test_two_threads_only_for_large_networks_and_only_with_two_cores(monkeypatch):
    monkeypatch.setattr(parts, "usable_cores", lambda: 2)
    assert parts.threads_for([784, 1000, 500, 10], "backprop") == 2
    assert parts.threads_for([784, 800, 800, 10], "backprop") == 2
    assert parts.threads_for([784, 800, 10], "backprop") == 1  # the barriers cost more
    assert parts.threads_for([784, 10], "backprop") == 1  # no hidden layer
    assert parts.threads_for([784, 1000, 500, 10], "perceptron") == 1
    monkeypatch.setattr(parts, "usable_cores", lambda: 1)
    assert parts.threads_for([784, 1000, 500, 10], "backprop") == 1


def test_numba_num_threads_1_means_one_core(monkeypatch):
    monkeypatch.setattr(parts.numba.config, "NUMBA_NUM_THREADS", 1)
    assert parts.usable_cores() == 1


def test_pace_takes_the_faster_way_and_tries_the_other_less_and_less_often():
    pace = parts.Pace()
    assert pace.plan() == (2, 2)
    pace.timed(2, 1.0)  # the first piece, which loads the compiled code: not counted
    pace.timed(2, 3e-5)
    assert pace.plan() == (1, 2)  # the other way timed on the first piece
    pace.timed(1, 5e-5)
    pace.timed(2, 3e-5)
    plans = []
    for _ in range(1000):
        plans.append(pace.plan())
        for threads in plans[-1]:
            pace.timed(threads, 3e-5 if threads == 2 else 5e-5)
    assert all(rest == 2 for _, rest in plans)
    retries = [k for k, (probe, _) in enumerate(plans) if probe == 1]
    gaps = np.diff(retries)
    assert gaps[0] == pace.RETRY * 2 and max(gaps) == pace.MAX_RETRY and all(np.diff(gaps) >= 0)
    pace.timed(2, 9e-4)  # a burst of load on one piece: not enough to change
    assert pace.plan()[1] == 2
    for _ in range(pace.RECENT):  # the machine stays busy: two threads are now the slower way
        pace.timed(2, 9e-5)
    assert pace.plan() == (1, 1)
    pace.timed(1, 5e-5)
    pace.timed(1, 5e-5)
    assert [pace.plan()[0] for _ in range(pace.RETRY)].count(2) == 1  # soon tried again

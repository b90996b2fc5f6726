"""core/streams.py: one generator per (seed, epoch, block, stream), seeded as the checkpoints of
earlier versions were trained (resumed runs and their bytes depend on it)."""

from __future__ import annotations

import numpy as np

from nnctl.core.streams import BLOCK, DISTORTIONS, DROPOUT, block_generator, block_streams


def numbers(rng: np.random.Generator) -> np.ndarray:
    return rng.random(8)


def test_the_generators_keys_are_those_training_always_used():
    for seed, epoch, block in ((0, 1, 0), (42, 3, 17), (2**40 + 3, 250, 117)):
        assert np.array_equal(numbers(block_generator(seed, epoch, block, DISTORTIONS)),
                              numbers(np.random.default_rng([seed, epoch, block])))
        assert np.array_equal(numbers(block_generator(seed, epoch, block, DROPOUT)),
                              numbers(np.random.default_rng([seed, epoch, block, 1])))


def test_every_stream_epoch_block_and_seed_has_its_own_numbers():
    key = (7, 2, 3)
    drawn = {numbers(block_generator(*key, DISTORTIONS)).tobytes(),
             numbers(block_generator(*key, DROPOUT)).tobytes(),
             numbers(block_generator(8, 2, 3, DROPOUT)).tobytes(),
             numbers(block_generator(7, 3, 3, DROPOUT)).tobytes(),
             numbers(block_generator(7, 2, 4, DROPOUT)).tobytes()}
    assert len(drawn) == 5


def test_block_streams_cut_a_chunk_into_its_blocks():
    got = list(block_streams(9, 1, 3 * BLOCK, 2 * BLOCK + 5, DROPOUT))
    assert [rows for rows, _ in got] == [slice(0, BLOCK), slice(BLOCK, 2 * BLOCK),
                                         slice(2 * BLOCK, 2 * BLOCK + 5)]
    for k, (_, rng) in enumerate(got):
        assert np.array_equal(numbers(rng), numbers(block_generator(9, 1, 3 + k, DROPOUT)))
    assert list(block_streams(9, 1, 0, 0, DROPOUT)) == []

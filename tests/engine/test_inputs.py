"""engine/inputs.py: what a chunk of training examples is given, its distorted images and its
dropout masks, drawn from the random streams of (seed, epoch, block): fresh per example, and the
same whatever the chunks."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.core.distortions import Distortions, distort, draw
from nnctl.core.dropout import Dropout
from nnctl.core.streams import BLOCK, DISTORTIONS, block_generator
from nnctl.engine.inputs import ChunkDistorter, ChunkMasks

SIZES = [784, 12, 8, 10]
SHAPE = (12, 12)
DISTORTED = Distortions(sigma=2, alpha=8, rotation=15, scale=0.1, shear=10, translation=1)


# --------------------------------------------------------------------------- the masks


def test_masks_keep_each_unit_with_chance_one_minus_p_scaled_by_its_inverse():
    masks = ChunkMasks(Dropout(0.2, 0.5), SIZES, seed=0, dtype=np.float32)
    inputs, hidden = masks.draw(1, 0, 4096)
    assert inputs.shape == (4096, 784) and hidden.shape == (4096, 20)
    assert set(np.unique(inputs)) == {np.float32(0), np.float32(1 / 0.8)}
    assert set(np.unique(hidden)) == {np.float32(0), np.float32(2)}
    assert (inputs == 0).mean() == pytest.approx(0.2, abs=0.005)
    assert (hidden == 0).mean() == pytest.approx(0.5, abs=0.02)
    assert inputs.mean() == pytest.approx(1.0, abs=0.01)  # inverted: the expected input is x


def test_masks_depend_on_the_position_only_not_on_the_chunks():
    masks = ChunkMasks(Dropout(0.3, 0.4), SIZES, seed=7, dtype=np.float64)
    whole = masks.draw(2, 0, 2048)
    parts = [masks.draw(2, start, 512) for start in range(0, 2048, 512)]
    for k in (0, 1):
        assert np.array_equal(whole[k], np.concatenate([p[k] for p in parts]))


def test_masks_are_fresh_for_every_example_epoch_and_seed():
    masks = ChunkMasks(Dropout(0.0, 0.5), SIZES, seed=0, dtype=np.float32)
    inputs, hidden = masks.draw(1, 0, 512)
    assert inputs is None
    assert len({row.tobytes() for row in hidden}) > 500
    assert not np.array_equal(hidden, masks.draw(2, 0, 512)[1])
    other = ChunkMasks(Dropout(0.0, 0.5), SIZES, seed=1, dtype=np.float32)
    assert not np.array_equal(hidden, other.draw(1, 0, 512)[1])


# --------------------------------------------------------------------------- the distorted images


@pytest.fixture(scope="module")
def distorter():
    rng = np.random.default_rng(0)
    source = rng.uniform(0.0, 1.0, size=(3000, SHAPE[0] * SHAPE[1])).astype(np.float32)
    return ChunkDistorter(DISTORTED, source, SHAPE, seed=5)


def test_distorted_inputs_depend_on_the_position_only_not_on_the_chunks(distorter):
    indices = np.random.default_rng(1).permutation(len(distorter.source))[:2048]
    whole = distorter.inputs(3, 0, indices)
    parts = [distorter.inputs(3, start, indices[start : start + 512])
             for start in range(0, 2048, 512)]
    assert np.array_equal(whole, np.concatenate(parts))
    assert not np.array_equal(whole, distorter.source[indices])
    assert not np.array_equal(whole, distorter.inputs(4, 0, indices))
    other = ChunkDistorter(DISTORTED, distorter.source, SHAPE, seed=6)
    assert not np.array_equal(whole, other.inputs(3, 0, indices))


def test_each_block_is_distorted_as_its_generator_draws(distorter):
    """Block b of an epoch: `draw` from its generator, the numpy `distort` to rounding."""
    indices = np.arange(700, 700 + 2 * BLOCK)
    got = distorter.inputs(2, 2 * BLOCK, indices)
    for k, block in enumerate((2, 3)):
        rows = indices[k * BLOCK : (k + 1) * BLOCK]
        params = draw(DISTORTED, len(rows), block_generator(5, 2, block, DISTORTIONS))
        expected = distort(distorter.source[rows], params, distorter.bank, SHAPE)
        np.testing.assert_allclose(got[k * BLOCK : (k + 1) * BLOCK], expected, rtol=0, atol=1e-5)

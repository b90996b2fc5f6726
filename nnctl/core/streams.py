"""The random streams of training's per-example draws: the numbers of the examples at positions
start, start + 1, ... of an epoch come from one generator per block of BLOCK positions, seeded
with the run's (seed, epoch, block) and the stream's id.

So they depend on the position alone: not on the chunks an engine cuts the epoch into (its
chunks hold whole blocks), nor on what ran before, and a run resumed anywhere draws the same.
Each stream has its own generators: switching dropout on does not move the distortions.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BLOCK = 512  # positions of an epoch whose numbers come from one generator
# stream ids. The distortions' generators were seeded with (seed, epoch, block) alone before
# there were other streams; their id 0 appends nothing, so that their numbers stay the same.
DISTORTIONS, DROPOUT = 0, 1


def block_generator(seed: int, epoch: int, block: int, stream: int) -> np.random.Generator:
    """The generator of `stream`'s numbers for block `block` of `epoch` in the run of `seed`."""
    key = [seed, epoch, block] if stream == DISTORTIONS else [seed, epoch, block, stream]
    return np.random.default_rng(key)


def block_streams(seed: int, epoch: int, start: int, count: int, stream: int
                  ) -> Iterator[tuple[slice, np.random.Generator]]:
    """For the `count` examples at positions start, start + 1, ... of `epoch` (start a multiple
    of BLOCK), block by block: the block's rows among them and its generator."""
    for offset in range(0, count, BLOCK):
        rows = slice(offset, min(offset + BLOCK, count))
        yield rows, block_generator(seed, epoch, (start + offset) // BLOCK, stream)

"""What a chunk of training examples is given: its distorted images (`ChunkDistorter`) and its
dropout masks (`ChunkMasks`), drawn from the random streams of the run's (seed, epoch, block)
(core/streams.py): the same for both engines, whatever their chunks, and after a resume anywhere.
"""

from __future__ import annotations

import numpy as np

from nnctl.core.distortions import Distortions, draw, field_bank
from nnctl.core.dropout import Dropout, keep_factors
from nnctl.core.streams import DISTORTIONS, DROPOUT, block_streams


class ChunkDistorter:
    """The distorted training inputs of a chunk of an epoch, each block's distortions drawn from
    its generator (core/streams.py) and applied by the compiled twin of distortions.distort."""

    def __init__(self, distortions: Distortions, source: np.ndarray,
                 image_shape: tuple[int, ...], seed: int):
        from nnctl.engine.distort import distort as compiled  # numba, as the fused engine

        self.distortions, self.source, self.shape, self.seed = (
            distortions, source, tuple(image_shape), seed)
        self.bank = field_bank(distortions, self.shape, seed)
        self.distort = compiled

    def inputs(self, epoch: int, start: int, indices: np.ndarray) -> np.ndarray:
        """Rows of distorted x[indices], the examples at positions start, start + 1, ... of
        `epoch` (start a multiple of BLOCK)."""
        out = np.empty((len(indices), self.source.shape[1]), self.source.dtype)
        for rows, rng in block_streams(self.seed, epoch, start, len(indices), DISTORTIONS):
            picked = indices[rows]
            params = draw(self.distortions, len(picked), rng)
            self.distort(np.ascontiguousarray(self.source[picked]), params, self.bank, self.shape,
                         out=out[rows])
        return out


class ChunkMasks:
    """The dropout masks of a chunk of an epoch: `draw(epoch, start, count)` gives the input
    keep factors (count x inputs, or None) and the hidden ones (count x all hidden units, layer
    by layer as `dropout.hidden_offsets` says, or None) of the examples at positions start,
    start + 1, ... (start a multiple of BLOCK)."""

    def __init__(self, dropout: Dropout, sizes: list[int], seed: int, dtype):
        self.dropout, self.sizes, self.seed, self.dtype = dropout, list(sizes), seed, dtype
        self.hidden_units = int(sum(sizes[1:-1]))

    def draw(self, epoch: int, start: int, count: int
             ) -> tuple[np.ndarray | None, np.ndarray | None]:
        p_in, p_hidden = self.dropout.input, self.dropout.hidden
        inputs = np.empty((count, self.sizes[0]), self.dtype) if p_in > 0 else None
        hidden = np.empty((count, self.hidden_units), self.dtype) if p_hidden > 0 else None
        for rows, rng in block_streams(self.seed, epoch, start, count, DROPOUT):
            n = rows.stop - rows.start
            if inputs is not None:
                inputs[rows] = keep_factors(p_in, (n, self.sizes[0]), rng, self.dtype)
            if hidden is not None:
                hidden[rows] = keep_factors(p_hidden, (n, self.hidden_units), rng, self.dtype)
        return inputs, hidden

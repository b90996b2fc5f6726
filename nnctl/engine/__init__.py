"""Engines run per-example SGD over an ordered chunk of example indices.

The boundary (engine/boundary.py) is one function, `run_chunk(indices, eta) -> ChunkResult(loss,
mistakes, updates)`, which updates the network's arrays in place (or raises Diverged at the first
example whose loss is not finite); train.py calls it chunk by chunk. `make_engine` builds it by
name: `reference` is the lecture's loop in numpy, `fused` the same loop compiled with numba.
"""

from __future__ import annotations

from nnctl.engine import reference
from nnctl.engine.boundary import ChunkResult, RunChunk  # noqa: F401  (the boundary's types)
from nnctl.errors import Diverged  # noqa: F401  (raised by run_chunk, part of this boundary)


def _fused(*args):
    from nnctl.engine import fused  # numba is imported only when the fused engine runs

    return fused.make(*args[:6], options=args[6] if len(args) > 6 else None,
                      velocity=args[7] if len(args) > 7 else None)


ENGINES = {"fused": _fused, "reference": reference.make}
DEFAULT_ENGINE = "fused"
# Examples per call, about 0.1 s of work on MNIST-sized networks: the progress bar moves and Ctrl-C
# is noticed between calls. Fixed, not timed, so that the sums of the losses are reproducible.
CHUNK_SIZES = {"fused": 4096, "reference": 512}


def engine_name(name: str) -> str:
    """`auto` is the fused engine."""
    return DEFAULT_ENGINE if name == "auto" else name


def make_engine(name: str, network, x, targets, labels, rule: str, loss: str,
                options=None, velocity=None) -> RunChunk:
    """The engine `name` training `network` in place; `options` (core/momentum_max_norm.py's
    StepOptions, or None) add momentum, whose `velocity` it updates in place, and max-norm."""
    if options is None:
        return ENGINES[engine_name(name)](network, x, targets, labels, rule, loss)
    return ENGINES[engine_name(name)](network, x, targets, labels, rule, loss, options, velocity)

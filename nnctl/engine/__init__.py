"""Engines run per-example SGD over an ordered chunk of example indices.

The boundary is one function, `run_chunk(indices, eta) -> (loss_sum, mistakes)`, which updates the
network's arrays in place; train.py calls it chunk by chunk. `make_engine` builds it by name.
"""

from __future__ import annotations

from nnctl.engine import reference

ENGINES = {"reference": reference.make}


def make_engine(name: str, network, x, targets, labels, rule: str, loss: str):
    return ENGINES[name](network, x, targets, labels, rule, loss)

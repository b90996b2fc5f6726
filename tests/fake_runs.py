"""A Run (nnctl/tasks/run_state.py) as the terminal text and the progress bar read it, on
MNIST's sizes, without loading data or training."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from nnctl.core.network import init_network
from nnctl.io.checkpoint import Progress
from nnctl.io.config import config_from_dict

MLP_300 = {"model": {"hidden": [300]},
           "training": {"epochs": 10, "schedule": "inverse", "decay": 0.2, "stop": {"patience": 3}}}


def fake_run(raw: dict = MLP_300, *, epochs_done: int = 0, position: int = 0, best_epoch: int = 0,
             seconds: float = 8.0, validation: int = 5000):
    """A Run as cli/text.py and tasks/progress_bar.py read it."""
    config = config_from_dict(raw, "test")
    network = init_network([784, *config.model.hidden, 10], config.model.activation,
                           config.model.output, "lecun", 1.0, np.random.default_rng(0), "float32")
    history = [{"epoch": e, "seconds": seconds} for e in range(1, epochs_done + 1)]
    progress = Progress(epochs_done, {}, best_epoch, None, position=position)
    splits = SimpleNamespace(train=range(60_000 - validation),
                             validation=range(validation) if validation else None)
    return SimpleNamespace(config=config, network=network, splits=splits, history=history,
                           test_pixels=(None, np.zeros(10_000)), progress=progress,
                           run_dir=Path("runs/mlp-300"))

"""A run being trained (its config, directory, data, network and where it stands) and what
training returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.core.momentum_max_norm import Velocity
from nnctl.core.network import Network
from nnctl.io.checkpoint import Progress, save_checkpoint
from nnctl.io.config import Config
from nnctl.io.examples import Splits
from nnctl.io.run_dir import checkpoint_path


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    stop_reason: str
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)
    already_complete: bool = False  # a resume found nothing left to do
    averaged: bool = False  # the model is the average of the epochs' weights (training.average)


@dataclass
class Run:
    """A run being trained: its config and directory, its data, its network and where it stands."""

    config: Config
    run_dir: Path
    splits: Splits
    test_pixels: tuple[np.ndarray, np.ndarray]
    meta: dict  # what every checkpoint records beside the weights and the progress
    network: Network
    progress: Progress
    history: list[dict]
    received: list[int]  # signals deferred so far
    velocity: Velocity | None = None  # momentum's (training.momentum > 0), updated in place
    # training.average > 0: the average of the epochs' weights (core/averaging.py), from the
    # end of epoch 1 on; `network` holds the weights SGD reached
    average: Network | None = None

    @property
    def model(self) -> Network:
        """What the run validates, saves and tests: the average if there is one."""
        return self.network if self.average is None else self.average

    def checkpoint(self, name: str, metrics: dict, progress: Progress) -> None:
        """A checkpoint of the model and progress; last.npz, which resume reads, also holds
        the velocity and, beside an average, the weights SGD reached."""
        last = name == "last.npz"
        save_checkpoint(checkpoint_path(self.run_dir, name), self.model,
                        dict(self.meta, epoch=progress.epoch, metrics=metrics,
                             progress=dataclasses.asdict(progress)),
                        self.velocity if last else None,
                        self.network if last and self.average is not None else None)

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

    def checkpoint(self, name: str, metrics: dict, progress: Progress) -> None:
        """A checkpoint of the network and progress; last.npz, which resume reads, also holds
        the velocity."""
        save_checkpoint(checkpoint_path(self.run_dir, name), self.network,
                        dict(self.meta, epoch=progress.epoch, metrics=metrics,
                             progress=dataclasses.asdict(progress)),
                        self.velocity if name == "last.npz" else None)

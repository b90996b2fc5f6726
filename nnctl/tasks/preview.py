"""`nnctl data augment-preview`: training digits beside random distortions of them, as a
config's data.augment says, drawn to a figure (PNG, SVG, PDF... as its name says)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.core.distortions import config_distortions, distort, draw, field_bank
from nnctl.errors import ConfigError, DataError
from nnctl.figures.preview import preview_figure
from nnctl.figures.saving import check_figure_file
from nnctl.figures.weights import save_image
from nnctl.io.config import load_config
from nnctl.io.examples import load_training_data
from nnctl.terminal import shown


def preview(config_path: str | Path, out: str | Path, examples: int = 8, variants: int = 6,
            force: bool = False) -> Path:
    """A figure of `examples` training digits (one of each class in turn, picked at random with the
    config's seed), each followed by `variants` random distortions of it as the config's
    `data.augment` says. `out` is checked (see `check_figure_file`: its format, then as every
    output) before anything is read."""
    out = check_figure_file(Path(out), force, inputs=[Path(config_path)])
    config = load_config(config_path)
    distortions = config_distortions(config)
    if not distortions:
        raise ConfigError(f"{config_path}: data.augment switches no distortion on "
                          "(elastic: sigma, alpha; affine: rotation, scale, shear, translation)")
    train = load_training_data(config.data, "float32").train
    shape = train.image_shape
    if len(shape) != 2:
        raise DataError(f"{config_path}: images of shape {shape} cannot be distorted (2-D only)")
    seed = config.training.seed
    rng = np.random.default_rng(seed)
    picks = pick_digits(train.labels, examples, rng)
    params = draw(distortions, examples * variants, rng)
    distorted = distort(np.repeat(train.x[picks], variants, axis=0), params,
                        field_bank(distortions, shape, seed), shape)
    title = f"{shown(Path(config_path).name)}: {distortions.describe()} (seed {seed})"
    picture = preview_figure(train.x[picks], distorted.reshape(examples, variants, -1),
                             [f"digit {train.labels[k]}\nexample {k}" for k in picks], shape,
                             title)
    return save_image(picture, out)


def pick_digits(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `count` random examples: one of the first class, one of the second, ..."""
    classes = np.unique(labels)
    return np.array([rng.choice(np.flatnonzero(labels == classes[k % len(classes)]))
                     for k in range(count)])

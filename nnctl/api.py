"""nnctl from Python: train a network, load a trained one, classify arrays of images, evaluate.

The library functions the `nnctl` commands call, so the same results, files and errors: `train`
is `nnctl train`, `load` reads a checkpoint as `nnctl evaluate` does, `Model.predict_proba` gives
`nnctl predict`'s probabilities, `evaluate` returns the dict `nnctl evaluate --json` prints. Every
error is an `NnctlError` with the one-line message the command prints after `Error:`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnctl.core.network import Network
from nnctl.core.preprocessing import apply_preprocessing
from nnctl.errors import ConfigError, DataError, one_line
from nnctl.io.checkpoint import load_trained
from nnctl.io.config import Config, config_with_overrides, load_config
from nnctl.io.examples import recorded_preprocessing
from nnctl.io.path_kinds import CHECKPOINT, CONFIG, DATASET, IDX_FILE, RUN, expect
from nnctl.io.run_dir import resume_config
from nnctl.tasks.evaluate import evaluate_checkpoint, evaluate_trained, in_batches
from nnctl.tasks.predict import probabilities
from nnctl.tasks.train import train as train_run

# Overrides: {"training.epochs": 3} or ["training.epochs=3"] (the value as YAML, as with --set)
Overrides = Mapping[str, Any] | Sequence[str] | None
_DICT_SOURCE = "config dict"  # how errors name a config given as a dict


@dataclass(frozen=True)
class TrainResult:
    """What `train` did.

    Attributes:
        run_dir: The run directory.
        test_accuracy: The test accuracy of the weights kept: those of the best validation
            accuracy, in checkpoints/best.npz.
        best_epoch: Their epoch.
        stop_reason: Why training stopped (`reached training.epochs = 3`, a stop condition).
        history: One record per epoch, as in the run's metrics.jsonl.
    """

    run_dir: Path
    test_accuracy: float
    best_epoch: int
    stop_reason: str
    history: list[dict] = field(repr=False)


def train(config: str | Path | Mapping[str, Any] | None = None, out: str | Path | None = None,
          *, overrides: Overrides = None, force: bool = False, resume: bool = False,
          progress: bool = False) -> TrainResult:
    """Train a network per example, as `nnctl train` does, and write its run directory.

    Args:
        config: A YAML config file, or the same mapping as a dict (`{"model": {"hidden":
            [300]}, ...}`). With `resume`, optional: the run's own config is used.
        out: The run directory (default: runs/<config file name>[-k], or runs/run[-k] for a
            dict).
        overrides: Config keys to change, `{"training.epochs": 3}` or `["training.epochs=3"]`
            (`--set`).
        force: Start over in `out` even if it holds a run (only a run nnctl made).
        resume: Continue the run in `out` from its last checkpoint (`--resume`).
        progress: Show the progress bar on stderr (off: nothing is printed).

    Returns:
        The run directory, test accuracy, best epoch, stop reason and history.

    Raises:
        ConfigError: A config that is not valid (the message names the key and where it was set).
        WrongKindError: `config` (or `out` with `resume`) is another kind of file or directory
            (a run, a sweep file, ...); the message says what to do with it.
        DataError: Data files missing or malformed.
        RunDirError: `out` cannot be used (it holds something that is not a run, or a run
            without `force`).
        Interrupted: SIGINT or SIGTERM stopped training after a checkpoint (resume it).
        TrainingDiverged: The loss became NaN or infinite.
    """
    texts = _override_texts(overrides)
    if resume and out is not None:
        expect(out, (RUN,), "train")
    if config is not None and not isinstance(config, Mapping):
        expect(config, (CONFIG,), "train")
    if resume:
        if out is None or force:
            raise ConfigError("resume continues the run in `out` in place: give out, and no "
                              "force")
        if isinstance(config, Mapping):
            raise ConfigError("resume compares the run's config with a config file, not a dict")
        resolved = resume_config(Path(out), texts, config)
    elif config is None:
        raise ConfigError("give a config to train, or resume=True to continue the run in `out`")
    else:
        resolved = _read_config(config, texts)
    name = "run" if config is None or isinstance(config, Mapping) else Path(config).stem
    result = train_run(resolved, Path(out) if out is not None else None, name=name,
                       resume=resume, force=force, show_progress=progress)
    return TrainResult(result.run_dir, result.test["accuracy"], result.best_epoch,
                       result.stop_reason, result.history)


def _read_config(config: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Config:
    """The validated config of a YAML file (as `nnctl train` reads it) or of a mapping, with
    `--set`-style overrides ("key=value") applied."""
    if isinstance(config, Mapping):
        return config_with_overrides(copy.deepcopy(dict(config)), _DICT_SOURCE, overrides)
    return load_config(config, overrides)


def _override_texts(overrides: Overrides) -> list[str]:
    """Overrides as `--set` takes them: "key=value", the value written as YAML."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if not isinstance(overrides, Mapping):
        return list(overrides)
    texts = []
    for key, value in overrides.items():
        try:
            text = yaml.safe_dump(_plain(value), default_flow_style=True, sort_keys=False,
                                  width=math.inf)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: a {type(value).__name__} is not a config value "
                              "(numbers, strings, booleans, lists and mappings are)") from None
        text = text.removesuffix("...\n").strip()  # a scalar's end-of-document marker
        texts.append(f"{key}={text}")
    return texts


def _plain(value: Any) -> Any:
    """`value` with tuples as lists and numpy numbers and arrays as Python's, for YAML."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, eq=False, repr=False)  # compared and hashed as itself
class Model:
    """A trained network, loaded from its checkpoint with the config and the input
    preprocessing it was trained with: classify arrays of images with `predict` and
    `predict_proba`, `evaluate` it on a split of its data or other IDX files.

    Attributes:
        path: The checkpoint.
        network: Its layers: `weights` and `biases` (numpy arrays, W^[l] of shape out x in),
            `activation`, `output`, `sizes`; `forward(x)` on rows of inputs.
        config: The config it was trained with.
        metadata: Everything the checkpoint records beside the weights.
        preprocessing: How inputs are made from pixels: pixel / 255, deskewed or not.
    """

    path: Path
    network: Network
    config: Config
    metadata: dict
    preprocessing: dict

    @property
    def classes(self) -> int:
        """The number of classes: the network's outputs."""
        return self.network.sizes[-1]

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of the images the network was trained on, e.g. (28, 28)."""
        return tuple(self.metadata["image_shape"])

    def __repr__(self) -> str:
        deskew = ", deskewed" if self.preprocessing.get("deskew") else ""
        hidden = f" {self.network.activation}" if len(self.network.weights) > 1 else ""
        return (f"Model({str(self.path)!r}: {'-'.join(map(str, self.network.sizes))}{hidden} "
                f"{self.network.output}, epoch {self.metadata.get('epoch')}, "
                f"{'x'.join(map(str, self.image_shape))} images{deskew})")

    def predict(self, images: Any) -> np.ndarray:
        """The class of each image: the most likely (ties: the lower class), as `nnctl predict`
        reports it.

        Args:
            images: uint8 pixels (0..255) or floats in [0, 1] (pixel / 255), white digit on
                black as in MNIST: one image (H, W), a batch (N, H, W), or flat rows (N, H*W).

        Returns:
            An int array of N labels (1 for a single image).
        """
        return np.argsort(-self.predict_proba(images), axis=1, kind="stable")[:, 0]

    def predict_proba(self, images: Any) -> np.ndarray:
        """Class probabilities of each image, float64, shape (N, classes), as `nnctl predict`
        reports them: the network's outputs for a softmax output layer, else a softmax over
        its last layer's z (see `nnctl.tasks.predict.probabilities`).

        The images (as for `predict`) are made inputs the way the checkpoint records, as
        `nnctl evaluate` makes them from IDX files: pixel / 255, deskewed if trained so. They
        are taken as MNIST digits are: not cropped or centred (`nnctl predict` does that to
        image files).
        """
        x = self._inputs(images)
        if len(x) == 0:
            return np.empty((0, self.classes))
        return in_batches(lambda rows: probabilities(self.network, rows), x)

    def evaluate(self, split: str = "test", *, data_dir: str | Path | None = None,
                 images: str | Path | None = None, labels: str | Path | None = None,
                 figure: str | Path | None = None, force: bool = False) -> dict:
        """Accuracy, error rate, loss, per-class precision and recall, confusion matrix and
        worst misclassified examples of this network: the dict `nnctl evaluate --json` prints.

        Args:
            split: "test", "validation" or "train": a split of the data it was trained on.
            data_dir: Evaluate on this directory of IDX files instead.
            images: An IDX images file (with `labels`) instead.
            labels: An IDX labels file (with `images`).
            figure: Also draw the confusion matrix and the worst examples in this file, in the
                format its name says (.png, .svg, .pdf...).
            force: Replace `figure` if it exists.
        """
        return evaluate_trained(self.path, self.network, self.metadata, self.config, split,
                                images, labels, data_dir, figure, force)

    def _inputs(self, images: Any) -> np.ndarray:
        """The network's inputs (one row per image) from pixels or floats in [0, 1]."""
        pixels = _checked_images(images, self.image_shape)
        record = self.preprocessing
        if pixels.dtype.kind == "f":  # pixel / 255 already: the record's scale, less that
            record = {**record, "divide_by": record["divide_by"] / 255.0}
        if len(pixels) == 0:
            return pixels.reshape(0, math.prod(self.image_shape))
        return apply_preprocessing(pixels, record, self.image_shape, self.network.dtype.name)


def load(target: str | Path) -> Model:
    """A trained network: a run directory's best checkpoint (checkpoints/best.npz), or a
    checkpoint file (.npz), checked as `nnctl evaluate` checks it (a CheckpointError
    otherwise)."""
    expect(target, (RUN, CHECKPOINT), "evaluate")
    path, network, meta, config = load_trained(target)
    return Model(path, network, config, meta, recorded_preprocessing(meta, str(path)))


def evaluate(target: str | Path, split: str = "test", *, data_dir: str | Path | None = None,
             images: str | Path | None = None, labels: str | Path | None = None,
             figure: str | Path | None = None, force: bool = False) -> dict:
    """`nnctl evaluate --json`'s dict for a run directory or checkpoint: see `Model.evaluate`.
    A path of the wrong kind (a config where the run goes, say) is a WrongKindError that says
    what to do with it."""
    expect(target, (RUN, CHECKPOINT), "evaluate")
    if data_dir is not None:
        expect(data_dir, (DATASET,), "evaluate")
    for idx_file in (images, labels):
        if idx_file is not None:
            expect(idx_file, (IDX_FILE,), "evaluate")
    return evaluate_checkpoint(target, split, images, labels, data_dir, figure, force)


def _checked_images(images: Any, image_shape: tuple[int, ...]) -> np.ndarray:
    """`images` as a batch (N, *image_shape) or (N, size), checked: integers in 0..255 or
    finite floats in [0, 1]; a DataError naming what was given otherwise."""
    try:
        array = np.asarray(images)
    except (ValueError, TypeError) as e:
        raise DataError(f"images: not an array of numbers ({one_line(e)})") from None
    if array.dtype.kind not in "uif":
        raise DataError(f"images of dtype {array.dtype}: expected uint8 pixels (0..255) or "
                        "floats in [0, 1]")
    size = math.prod(image_shape)
    if array.shape == tuple(image_shape):
        array = array[None]
    elif not (array.shape[1:] == tuple(image_shape) or array.ndim == 2 and array.shape[1] == size):
        dims = ", ".join(map(str, image_shape))
        raise DataError(f"images of shape {array.shape}: expected one image ({dims}), a batch "
                        f"(N, {dims}) or flat rows (N, {size})")
    if array.size and array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise DataError(f"images: {np.count_nonzero(~np.isfinite(array)):,} NaN or infinite "
                            "values")
        if array.min() < 0.0 or array.max() > 1.0:
            raise DataError(f"images: floats from {array.min():g} to {array.max():g}, expected "
                            "[0, 1] (pixel / 255; or give uint8 pixels 0..255)")
    elif array.size and (array.min() < 0 or array.max() > 255):
        raise DataError(f"images: integers from {array.min()} to {array.max()}, expected "
                        "0..255")
    return array

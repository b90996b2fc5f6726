"""Batched evaluation: the forward pass in matrix form over a whole split, loss, accuracy,
confusion."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nnctl.core.losses import loss_function
from nnctl.core.network import Network
from nnctl.core.rules import TARGETS
from nnctl.errors import DataError
from nnctl.figures.names import checkpoint_name
from nnctl.figures.saving import check_figure_file, figure_format
from nnctl.io.checkpoint import load_trained
from nnctl.io.config import Config, DataConfig
from nnctl.io.examples import (
    Dataset,
    Inputs,
    check_classes,
    data_paths,
    load_split,
    make_dataset,
    recorded_preprocessing,
)
from nnctl.io.idx import read_examples

BATCH = 10_000  # rows per matrix product: bounds memory, keeps it batched
WORST = 50  # misclassified examples listed in an evaluation


def in_batches(f: Callable[[np.ndarray], np.ndarray], x: Inputs | np.ndarray) -> np.ndarray:
    """f(rows) for the rows of x, BATCH rows at a time, stacked: a dataset's inputs are made
    from its pixels one batch at a time. Values that overflow are inf or NaN, without numpy's
    warnings (the loss says so, and JSON shows them as null)."""
    with np.errstate(all="ignore"):
        return np.concatenate([f(x[i : i + BATCH]) for i in range(0, len(x), BATCH)])


def outputs(network: Network, x: Inputs | np.ndarray) -> np.ndarray:
    """a^[L] for every row of x, computed BATCH rows at a time (see `in_batches`)."""
    return in_batches(network.forward, x)


def loss_and_accuracy(network: Network, dataset: Dataset, loss: str,
                      rule: str) -> tuple[float, float]:
    """Mean loss (against the rule's targets) and the fraction classified right."""
    a = outputs(network, dataset.x)
    accuracy = float((a.argmax(1) == dataset.labels).mean())
    return _mean_loss(a, dataset.labels, loss, rule, network), accuracy


def _mean_loss(a: np.ndarray, labels: np.ndarray, loss: str, rule: str, network: Network) -> float:
    y = TARGETS[rule](labels, a.shape[1], a.dtype)
    with np.errstate(all="ignore"):
        return float(loss_function(loss, network.output)(a, y).mean(dtype=np.float64))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """C[i, j] = number of examples of true class i predicted as class j."""
    counts = np.bincount(labels * classes + predictions, minlength=classes * classes)
    return counts.reshape(classes, classes)


def evaluate(network: Network, dataset: Dataset, loss: str, rule: str,
             a: np.ndarray | None = None) -> dict:
    """Accuracy, error rate, mean loss, per-class precision and recall, and the confusion matrix;
    `a`: the network's outputs for the dataset, if the caller has them already."""
    a = outputs(network, dataset.x) if a is None else a
    classes = a.shape[1]
    predictions = a.argmax(1)
    C = confusion_matrix(dataset.labels, predictions, classes)
    correct = np.diag(C)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = correct / C.sum(axis=0)
        recall = correct / C.sum(axis=1)
    accuracy = float(correct.sum() / len(dataset))
    wrong = np.flatnonzero(predictions != dataset.labels)
    wrong = wrong[np.argsort(a[wrong, dataset.labels[wrong]], kind="stable")][:WORST]
    return {
        "split": dataset.name,
        "examples": len(dataset),
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "loss": _mean_loss(a, dataset.labels, loss, rule, network),
        "per_class": [
            {
                "class": k,
                "support": int(C[k].sum()),
                "precision": None if np.isnan(precision[k]) else float(precision[k]),
                "recall": None if np.isnan(recall[k]) else float(recall[k]),
            }
            for k in range(classes)
        ],
        "confusion_matrix": C.tolist(),
        # the misclassified examples whose true class got the lowest output, worst first
        "worst": [
            {"index": int(n), "true": int(dataset.labels[n]), "predicted": int(predictions[n]),
             "output": float(a[n, predictions[n]]), "true_output": float(a[n, dataset.labels[n]])}
            for n in wrong
        ],
    }


def evaluate_checkpoint(
    target: str | Path,
    split: str = "test",
    images: str | Path | None = None,
    labels: str | Path | None = None,
    data_dir: str | Path | None = None,
    figure: str | Path | None = None,
    force: bool = False,
) -> dict:
    """Evaluate the network of `target` (a checkpoint, or a run directory's best.npz): see
    `evaluate_trained`. The figure's format is checked before the checkpoint is read."""
    if figure is not None:
        figure_format(figure)
    return evaluate_trained(*load_trained(target), split, images, labels, data_dir, figure, force)


def evaluate_trained(
    path: Path,
    network: Network,
    meta: dict,
    config: Config,
    split: str = "test",
    images: str | Path | None = None,
    labels: str | Path | None = None,
    data_dir: str | Path | None = None,
    figure: str | Path | None = None,
    force: bool = False,
) -> dict:
    """Evaluate a trained network (as `load_trained` gives it: checkpoint path, network, metadata,
    config) on a split of its data, another data directory, or IDX files; with `figure`, also
    draw the confusion matrix and the worst misclassified images there, in the format its name
    says (.png, .svg, .pdf...), titled with the run's (or checkpoint's) name.

    The figure's path is checked first (`check_figure_file`: its format, then as every output;
    never one of the files read, an existing file only with `force`), so that a refusal costs
    no evaluation."""
    if (images is None) != (labels is None):
        raise DataError("give both --images and --labels, or neither")
    if figure is not None:
        data = _data(config, data_dir)
        inputs = [Path(images), Path(labels)] if images is not None else _split_files(data, split)
        figure = check_figure_file(figure, force, inputs=[path, *inputs])
    dataset = evaluation_dataset(path, network, meta, config, split, images, labels, data_dir)
    result = evaluate(network, dataset, config.training.loss, config.training.rule)
    if figure is not None:
        from nnctl.figures.curves import evaluation_figure

        shape = dataset.image_shape if len(dataset.image_shape) == 2 else (1, -1)
        evaluation_figure(result, dataset.x[:].reshape(len(dataset), *shape), figure,
                          name=checkpoint_name(path))
    return {"checkpoint": str(path), "epoch": meta.get("epoch"), **result}


def evaluation_dataset(path: Path, network: Network, meta: dict, config: Config,
                       split: str = "test", images: str | Path | None = None,
                       labels: str | Path | None = None,
                       data_dir: str | Path | None = None) -> Dataset:
    """The examples a trained network is evaluated on (see `evaluate_trained`), made inputs as in
    its training, checked against the checkpoint's image shape and number of classes."""
    if (images is None) != (labels is None):
        raise DataError("give both --images and --labels, or neither")
    dtype = network.dtype.name
    record = recorded_preprocessing(meta, str(path))  # the inputs made as in training
    if images is not None:
        dataset = make_dataset(*read_examples(images, labels), dtype, Path(images).name, record)
        source = str(labels)
    else:
        dataset = load_split(_data(config, data_dir), split, dtype, record)
        source = f"{split} split"
    if list(dataset.image_shape) != meta["image_shape"]:
        raise DataError(
            f"{source}: images are {'x'.join(map(str, dataset.image_shape))}, the checkpoint was "
            f"trained on {'x'.join(map(str, meta['image_shape']))}"
        )
    check_classes(dataset.labels, network.sizes[-1], source)
    return dataset


def _data(config: Config, data_dir: str | Path | None) -> DataConfig:
    """The run's data, or another directory of IDX files."""
    if data_dir is None:
        return config.data
    return dataclasses.replace(config.data, dir=str(data_dir), train_images=None,
                               train_labels=None, test_images=None, test_labels=None)


def _split_files(data: DataConfig, split: str) -> list[Path]:
    """The IDX files `load_split` reads for `split`."""
    paths = data_paths(data)
    prefix = "test" if split == "test" else "train"
    return [paths[f"{prefix}_images"], paths[f"{prefix}_labels"]]

"""Nested validation: which model to keep, the epoch's weights or their moving average?

A run's best validation accuracy is the largest of many noisy epochs, so it overstates what its
checkpoint will do on new digits, and the more so the noisier the curve. To compare ways of
choosing the model fairly, pick the epoch on one half of the validation digits and score it on
the other half, then the other way round, and average the two scores.

For runs trained with every epoch kept (`--set training.keep=all`) and without averaging, this
prints, per run and in the mean over the runs, for the epochs' own weights and for their moving
average with each beta (computed exactly as training.average computes it, core/averaging.py):
the best validation accuracy, the nested validation accuracy, and the test error of the epoch
the whole validation split picks. Only the validation split decides; the test error is shown.

    python tools/nested_validation.py runs/a/seed-0 runs/a/seed-1 runs/a/seed-2 --betas 0.8 0.9
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from nnctl.core.averaging import start_average, update_average
from nnctl.io.checkpoint import load_checkpoint, load_trained
from nnctl.io.examples import data_paths, load_training_data, make_dataset
from nnctl.io.idx import read_examples
from nnctl.tasks.evaluate import in_batches


def correct(network, dataset) -> np.ndarray:
    """Per example: is the network's most likely class the label?"""
    return in_batches(network.logits, dataset.x).argmax(axis=1) == dataset.labels


def scores(run_dir: Path, betas: list[float]) -> dict[str, tuple[float, float, float]]:
    """{model: (best validation accuracy, nested validation accuracy, test error %)}."""
    _, _, meta, config = load_trained(run_dir)
    if config.training.average:
        sys.exit(f"{run_dir}: trained with training.average; its epochs' own weights are gone")
    epochs = sorted((run_dir / "checkpoints").glob("epoch-*.npz"))[1:]  # from epoch 1
    if len(epochs) < 2:
        sys.exit(f"{run_dir}: needs every epoch's checkpoint (train with training.keep=all)")
    validation = load_training_data(config.data, config.training.dtype,
                                    meta["preprocessing"]).validation
    if validation is None:
        sys.exit(f"{run_dir}: has no validation split")
    paths = data_paths(config.data)
    test = make_dataset(*read_examples(paths["test_images"], paths["test_labels"]),
                        config.training.dtype, "test", meta["preprocessing"])
    models = {"epochs' weights": None, **{f"average, beta {b:g}": b for b in betas}}
    averages: dict[str, object] = {}
    rights: dict[str, list[np.ndarray]] = {name: [] for name in models}
    picked: dict[str, tuple[float, object]] = {}  # each model's best accuracy and its epoch's
    # weights: the first epoch of the best whole-validation accuracy, as argmax takes it
    for path in epochs:
        network = load_checkpoint(path)[0]
        for name, beta in models.items():
            model = network
            if beta is not None:
                if name not in averages:
                    averages[name] = start_average(network)
                else:
                    update_average(averages[name], network, beta)
                model = averages[name]
            right = correct(model, validation)
            if name not in picked or right.mean() > picked[name][0]:
                picked[name] = (right.mean(), model.copy())
            rights[name].append(right)
    half = np.arange(len(validation)) < len(validation) // 2
    result = {}
    for name in models:
        right = np.array(rights[name])  # epochs x validation examples
        first, second, whole = right[:, half].mean(1), right[:, ~half].mean(1), right.mean(1)
        nested = (second[first.argmax()] + first[second.argmax()]) / 2
        test_error = 100 * (1 - correct(picked[name][1], test).mean())
        result[name] = (100 * whole.max(), 100 * nested, test_error)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (training.keep=all)")
    parser.add_argument("--betas", nargs="+", type=float, default=[0.8, 0.9])
    args = parser.parse_args(argv)
    table: dict[str, list[tuple[float, float, float]]] = {}
    for run_dir in args.runs:
        for name, figures in scores(run_dir, args.betas).items():
            table.setdefault(name, []).append(figures)
            print(f"{run_dir}  {name}: best validation {figures[0]:.2f}%, nested "
                  f"{figures[1]:.2f}%, test error {figures[2]:.2f}%")
    print("\n| model | best validation accuracy | nested validation accuracy | test error |")
    print("|---|---:|---:|---:|")
    for name, rows in table.items():
        best, nested, test = (list(column) for column in zip(*rows))
        sd = f" ± {statistics.stdev(test):.2f}%" if len(test) > 1 else ""
        print(f"| {name} | {statistics.mean(best):.3f}% | {statistics.mean(nested):.3f}% | "
              f"{statistics.mean(test):.2f}%{sd} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Figures drawn with matplotlib (Agg, no display): learning curves of runs, and an evaluation's
confusion matrix with the worst misclassified images. matplotlib is imported only here."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from nnctl.atomic import atomic_file, make_directory
from nnctl.errors import RunDirError
from nnctl.inputs import open_regular
from nnctl.outputs import check_output_file

# metrics.jsonl is read whole: 64 MiB is some 200,000 epochs.
MAX_METRICS_BYTES = 64 << 20
PLOTTED = ("epoch", "train_loss", "train_accuracy")
OPTIONAL = ("val_loss", "val_accuracy")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs a run's metrics.jsonl records (epoch, train_loss, train_accuracy, and val_loss,
    val_accuracy with a validation split; NaN where the run wrote null).

    Works while the run is being trained: a last line without its newline that is not (yet) a
    whole JSON object is being appended, and is left out. Anything else that is not a metrics
    line is a one-line RunDirError naming the file and the line.
    """
    path = run_dir / "metrics.jsonl"
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (not a directory)")
    if not os.path.lexists(path):
        raise RunDirError(f"{run_dir}: not a run directory (no metrics.jsonl)")
    with open_regular(path, "a metrics file", RunDirError, limit=MAX_METRICS_BYTES) as f:
        *lines, last = f.read(MAX_METRICS_BYTES + 1).split(b"\n")
    records = [_metrics_line(line, path, n) for n, line in enumerate(lines, 1) if line.strip()]
    if last.strip():
        try:
            records.append(_metrics_line(last, path, len(lines) + 1))
        except RunDirError:
            pass  # being written by the run
    if not records:
        raise RunDirError(f"{path}: no finished epoch to plot yet")
    return records


def _metrics_line(line: bytes, path: Path, number: int) -> dict:
    """One line's epoch and its metrics as floats (null: NaN)."""
    where = f"{path}: line {number}"
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunDirError(f"{where}: not UTF-8 text; not a metrics file of nnctl") from None
    except (ValueError, RecursionError):
        raise RunDirError(f"{where}: not valid JSON; not a metrics file of nnctl") from None
    if not isinstance(record, dict):
        raise RunDirError(f"{where}: not a JSON object; not a metrics file of nnctl")
    values = {}
    for key in (*PLOTTED, *OPTIONAL):
        if key not in record:
            if key in OPTIONAL:
                continue
            raise RunDirError(f"{where}: no {key}; not a metrics file of nnctl")
        value = record[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise RunDirError(f"{where}: {key} is not a number; not a metrics file of nnctl")
        values[key] = _number(value)
    return values


def _number(value: float | None) -> float:
    """A metric as a float: null (NaN when written) is NaN, an integer too large is infinite."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


def learning_curves(run_dirs: list[Path], out: Path, force: bool = False) -> Path:
    """Train (solid) and validation (dashed) loss and accuracy per epoch, one colour per run.

    `out` is checked by `check_output_file` (never a run's own file; an existing file only with
    `force`) before anything is drawn, and it is never one of the metrics files read."""
    runs = [(run_dir, read_metrics(run_dir)) for run_dir in run_dirs]
    out = check_output_file(out, force, inputs=[d / "metrics.jsonl" for d in run_dirs])
    plt = _pyplot()
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for k, (run_dir, records) in enumerate(runs):
        colour = f"C{k % 10}"
        epochs = [r["epoch"] for r in records]
        for axes, key in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
            axes.plot(epochs, [r[f"train_{key}"] for r in records], color=colour, marker=".",
                      label=f"{run_dir.name} train")
            if all(f"val_{key}" in r for r in records):
                axes.plot(epochs, [r[f"val_{key}"] for r in records], color=colour, marker=".",
                          linestyle="--", label=f"{run_dir.name} validation")
    loss_axes.set(title="loss", xlabel="epoch", yscale="log")
    accuracy_axes.set(title="accuracy", xlabel="epoch")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, plt, out)


def evaluation_figure(result: dict, images: np.ndarray, out: Path, worst: int = 24) -> Path:
    """The confusion matrix, and the `worst` misclassified images (lowest output for the true
    class first) with their predicted and true labels and the network's outputs for both."""
    plt = _pyplot()
    C = np.array(result["confusion_matrix"])
    wrong = result["worst"][:worst]
    columns = 6
    rows = max(1, -(-len(wrong) // columns))
    figure = plt.figure(figsize=(13, max(5.5, 1.9 * rows)))
    grid = figure.add_gridspec(rows, 2 + columns, width_ratios=[3, 3] + [1] * columns)
    axes = figure.add_subplot(grid[:, :2])
    axes.imshow(np.log1p(C), cmap="Blues")
    axes.set(title=f"confusion matrix, {result['split']} ({result['accuracy']:.2%} right)",
             xlabel="predicted", ylabel="true", xticks=range(len(C)), yticks=range(len(C)))
    for i in range(len(C)):
        for j in range(len(C)):
            if C[i, j]:
                axes.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=7,
                          color="white" if C[i, j] > C.max() / 3 else "black")
    for k, example in enumerate(wrong):
        cell = figure.add_subplot(grid[k // columns, 2 + k % columns])
        cell.imshow(images[example["index"]], cmap="gray_r")
        cell.set_title(f"#{example['index']}: {example['predicted']} ({example['output']:.2f})\n"
                       f"true {example['true']} ({example['true_output']:.2f})", fontsize=7)
        cell.axis("off")
    figure.tight_layout()
    return _save(figure, plt, out)


def _save(figure, plt, out: Path) -> Path:
    try:
        make_directory(out.parent)
        with atomic_file(out) as f:
            figure.savefig(f, format="png", dpi=110)
    finally:
        plt.close(figure)
    return out

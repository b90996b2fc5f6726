"""Figures drawn with matplotlib (Agg, no display): learning curves of runs, and an evaluation's
confusion matrix with the worst misclassified images. matplotlib is imported only here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnctl.atomic import atomic_file, make_directory
from nnctl.errors import RunDirError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise RunDirError(f"{run_dir}: not a run directory (no metrics.jsonl)") from None
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: not valid JSON lines ({e})") from None
    if not records:
        raise RunDirError(f"{path}: no finished epoch to plot yet")
    return records


def learning_curves(run_dirs: list[Path], out: Path) -> Path:
    """Train (solid) and validation (dashed) loss and accuracy per epoch, one colour per run."""
    runs = [(run_dir, read_metrics(run_dir)) for run_dir in run_dirs]
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

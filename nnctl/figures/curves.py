"""Figures drawn with matplotlib (Agg, no display): learning curves of runs, and an evaluation's
confusion matrix with the worst misclassified images. matplotlib is imported only here."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import numpy as np

from nnctl.errors import NnctlError, RunDirError
from nnctl.figures.names import legend_labels, run_names
from nnctl.figures.saving import figure_format, write_figure
from nnctl.io import run_dir as rundir
from nnctl.io.outputs import check_output_file
from nnctl.io.run_info import find_runs

# metrics.jsonl is read whole: 64 MiB is some 200,000 epochs.
PLOTTED = ("epoch", "train_loss", "train_accuracy")
OPTIONAL = ("val_loss", "val_accuracy")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_metrics(run_dir: Path) -> list[dict]:
    """The epochs a run's metrics.jsonl records (rundir.read_metrics: a line still being written
    is left out, any other bad line is a one-line error), as floats (null: NaN)."""
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (not a directory)")
    if not os.path.lexists(run_dir / "metrics.jsonl"):
        raise RunDirError(f"{run_dir}: not a run directory (no metrics.jsonl)")
    records = [{key: _number(record[key]) for key in (*PLOTTED, *OPTIONAL) if key in record}
               for record in rundir.read_metrics(run_dir, required=PLOTTED)]
    if not records:
        raise RunDirError(f"{run_dir / 'metrics.jsonl'}: no finished epoch to plot yet")
    return records


def _number(value: float | None) -> float:
    """A metric as a float: null (NaN when written) is NaN, an integer too large is infinite."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


# How each loss reads on an axis: the metrics record the mean over the examples of the epoch.
LOSS_NAMES = {
    "cross_entropy": "cross-entropy −Σ y·log a",
    "binary_cross_entropy": "binary cross-entropy (summed over the outputs)",
    "squared_error": "squared error ½‖a − y‖²",
    "perceptron": "perceptron criterion Σ max(0, −y·a)",
}
LEGEND_CHARACTERS = 110  # per row of the legend below the axes
LABEL_CHARACTERS = 55  # per line of a run's name in the legend
LINES_BESIDE = 14  # a legend of at most so many lines takes the place of a missing panel
PLOT_LIMIT = 1e300  # metrics beyond +-this are drawn at it (see _drawable)


def loss_kind(run_dir: Path) -> str:
    """The loss a run's metrics record (a key of LOSS_NAMES), from the config in its last
    checkpoint; "loss" when the run does not say."""
    from nnctl.io.checkpoint import read_metadata
    from nnctl.io.run_dir import checkpoint_path

    try:
        config = read_metadata(checkpoint_path(run_dir, "last.npz")).get("config")
    except NnctlError:
        return "loss"
    training, model = (config.get(key) if isinstance(config, dict) else None
                       for key in ("training", "model"))
    loss = training.get("loss") if isinstance(training, dict) else None
    if loss == "cross_entropy" and isinstance(model, dict) and model.get("output") == "sigmoid":
        return "binary_cross_entropy"  # what nnctl.core.losses.loss_function computes then
    return loss if loss in LOSS_NAMES else "loss"


def learning_curves(run_dirs: list[Path], out: Path, force: bool = False,
                    labels: list[str] | None = None) -> Path:
    """Train (solid) and validation (dashed) accuracy and loss per epoch, one colour per run,
    named in the legend by `labels` (default: `legend_labels`: the runs' names, with the keys
    that differ when short). A folder that is not a run stands for the runs below it
    (`runs_to_plot`). `out` is written in the format its name says (PNG, SVG, PDF...).

    `out`'s format is checked before anything is read; `out` itself by `check_output_file` (never
    a run's own file; an existing file only with `force`) before anything is drawn, and it is
    never one of the metrics files read."""
    figure_format(out)
    run_dirs = runs_to_plot([Path(d) for d in run_dirs])
    runs = [(run_dir, read_metrics(run_dir)) for run_dir in run_dirs]
    out = check_output_file(out, force, inputs=[d / "metrics.jsonl" for d in run_dirs])
    labels = labels or legend_labels(run_dirs)
    plt = pyplot()
    figure = curves_figure(plt, runs, labels, [loss_kind(d) for d in run_dirs])
    figure.set_label(f"Learning curves of {', '.join(run_names(run_dirs))}")  # its files' title
    return save_figure(figure, plt, out)


def runs_to_plot(paths: list[Path]) -> list[Path]:
    """The runs `paths` name: each run (or directory with a metrics.jsonl) as given, a folder of
    runs as the run directories below it (as `nnctl runs` finds them)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir() or os.path.lexists(path / "metrics.jsonl") or rundir.is_run(path):
            found.append(path)
            continue
        below = find_runs([path])
        if not below:
            raise RunDirError(f"{path}: not a run directory (no metrics.jsonl), and no run "
                              "directory below it")
        found.extend(below)
    return found


def curves_figure(plt, runs: list[tuple[Path, list[dict]]], labels: list[str],
                  kinds: list[str]):
    """The learning-curves Figure: an accuracy panel, a loss panel per kind of loss (each run's
    loss is drawn in the panel of its `kinds`), two panels a row, and one legend: in the free
    place beside the last panel if there is one and the legend fits, else below them all."""
    panels = ["accuracy", *dict.fromkeys(kinds)]
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    validation = any("val_loss" in r for _, records in runs for r in records)
    handles, names, legend_columns = _legend_entries(labels, validation)
    lines = sum(name.count("\n") + 1 for name in names)
    beside = len(panels) < rows * columns and lines <= LINES_BESIDE  # in the free panel's place
    legend_columns = 1 if beside else legend_columns
    heights = [3.9] * rows + ([] if beside else [0.22 * -(-lines // legend_columns) + 0.3])
    figure = plt.figure(figsize=(5.6 * columns, sum(heights)), layout="constrained")
    grid = figure.add_gridspec(len(heights), columns, height_ratios=heights)
    axes = {panel: figure.add_subplot(grid[k // columns, k % columns])
            for k, panel in enumerate(panels)}
    for k, ((_, records), kind) in enumerate(zip(runs, kinds)):
        for panel, key in (("accuracy", "accuracy"), (kind, "loss")):
            _draw_run(axes[panel], records, key, _style(k))
    _label_accuracy(axes["accuracy"])
    for kind in panels[1:]:
        _label_loss(axes[kind], kind)
    legend_axes = figure.add_subplot(grid[rows - 1, columns - 1] if beside else grid[rows, :])
    legend_axes.axis("off")
    legend_axes.legend(handles, names, loc="center", frameon=False, ncol=legend_columns)
    return figure


def _style(k: int) -> dict:
    """Run k's colour, and its marker once the ten colours repeat."""
    return {"color": f"C{k % 10}", "marker": ".os^D"[k // 10 % 5]}


def _draw_run(axes, records: list[dict], key: str, style: dict) -> None:
    """One run's train (solid) and, where recorded, validation (dashed) `key` per epoch."""
    epochs = [r["epoch"] for r in records]
    axes.plot(epochs, _drawable([r[f"train_{key}"] for r in records]), **style)
    if all(f"val_{key}" in r for r in records):
        axes.plot(epochs, _drawable([r[f"val_{key}"] for r in records]), linestyle="--", **style)


def _drawable(values: list[float]) -> np.ndarray:
    """Finite values clipped to +-PLOT_LIMIT (matplotlib cannot place the ticks of an axis that
    reaches 1e308: its arithmetic overflows); NaN and infinite ones stay, and are not drawn."""
    values = np.array(values, dtype=np.float64)
    finite = np.isfinite(values)
    values[finite] = values[finite].clip(-PLOT_LIMIT, PLOT_LIMIT)
    return values


def _label_accuracy(axes) -> None:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    axes.set(title="accuracy", xlabel="epoch", ylabel="examples classified right")
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, alpha=0.3)


def _label_loss(axes, kind: str) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set(title=f"loss: {LOSS_NAMES.get(kind, 'loss')}", xlabel="epoch",
             ylabel="mean loss per example")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, alpha=0.3)


def _legend_entries(labels: list[str], validation: bool) -> tuple[list, list[str], int]:
    """The figure's one legend: a line per run (its label wrapped), then what the solid and
    dashed lines are; and how many columns fit in LEGEND_CHARACTERS."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], **_style(k)) for k in range(len(labels))]
    # a `$` would start matplotlib's math mode (`a$b$` in a run's name)
    names = [textwrap.fill(label, LABEL_CHARACTERS).replace("$", r"\$") for label in labels]
    handles.append(Line2D([], [], color="black"))
    names.append("train (solid)")
    if validation:
        handles.append(Line2D([], [], color="black", linestyle="--"))
        names.append("validation (dashed)")
    width = max(len(line) for name in names for line in name.splitlines()) + 6
    return handles, names, max(1, min(len(names), LEGEND_CHARACTERS // width))


def evaluation_figure(result: dict, images: np.ndarray, out: Path, worst: int = 24,
                      name: str | None = None) -> Path:
    """Draw `evaluation_plot` into `out` (a path already checked by `check_output_file`), in the
    format its name says."""
    plt = pyplot()
    return save_figure(evaluation_plot(plt, result, images, worst, name), plt, out)


def evaluation_plot(plt, result: dict, images: np.ndarray, worst: int = 24,
                    name: str | None = None):
    """The evaluation Figure, titled with the network's `name` (a run's, a checkpoint's) and
    the split: the confusion matrix, and the `worst` misclassified images (lowest output for
    the true class first), each captioned with its index, the predicted and the true digit, and
    the network's output for both; a subtitle says how to read the captions."""
    wrong = result["worst"][:worst]
    columns = 6
    rows = max(1, -(-len(wrong) // columns))
    figure = plt.figure(figsize=(15, max(6.2, 1.75 * rows + 1.3)), layout="constrained")
    title = f"Evaluation{f' of {name}' if name else ''} on the {result['split']} split"
    figure.set_label(title)  # the title of its SVG and PDF files
    figure.suptitle(title.replace("$", r"\$"), fontsize=14, fontweight="bold")
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.15])
    _confusion_panel(left.add_subplot(), np.array(result["confusion_matrix"]), result)
    right.suptitle(f"The {len(wrong)} worst mistakes, lowest output for the true digit first",
                   fontsize=12)
    if not wrong:
        right.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    for k, example in enumerate(wrong):
        cell = right.add_subplot(rows, columns, k + 1)
        cell.imshow(images[example["index"]], cmap="gray_r")
        cell.set_title(f"#{example['index']}\npredicted {example['predicted']} "
                       f"({_output(example['output'])})\ntrue {example['true']} "
                       f"({_output(example['true_output'])})", fontsize=9)
        cell.axis("off")
    if wrong:
        right.supxlabel(_how_to_read(wrong[0], result["split"]), fontsize=10)
    return figure


def _how_to_read(example: dict, split: str) -> str:
    """What the captions of the worst mistakes say, with the first one as the example."""
    return (f"How to read a caption (the first): #{example['index']} = the image's index in the "
            f"{split} split;\npredicted {example['predicted']} ({_output(example['output'])}) = "
            "the digit the network chose, and its output for it;\n"
            f"true {example['true']} ({_output(example['true_output'])}) = the image's label, "
            "and the network's output for that digit")


def _confusion_panel(axes, C: np.ndarray, result: dict) -> None:
    """Counts of (true, predicted) digits; colour on a log scale, empty cells left white."""
    from matplotlib.colors import LogNorm
    right = int(np.trace(C))
    shown = np.ma.masked_equal(C, 0)
    image = axes.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(2, int(C.max()))))
    from matplotlib.ticker import FuncFormatter

    bar = axes.figure.colorbar(image, ax=axes, fraction=0.046, pad=0.03,
                               label="examples (colour on a log scale)")
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set(title=f"Confusion matrix, {result['split']} split: {right:,} of {int(C.sum()):,} "
                   f"right ({result['accuracy']:.2%})",
             xlabel="predicted digit", ylabel="true digit", xticks=range(len(C)),
             yticks=range(len(C)))
    dark = np.log1p(C) > 0.6 * np.log1p(C.max())
    for i, j in zip(*np.nonzero(C)):
        axes.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=8,
                  color="white" if dark[i, j] else "black")


def _output(value: float) -> str:
    """A network output in a caption: 2 decimals, 3 significant digits from 10 on."""
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.3g}"


def save_figure(figure, plt, out: Path, title: str | None = None) -> Path:
    """Draw `figure` into `out` (atomically), in the format its name says (see
    nnctl.figures.saving.write_figure: PNG, SVG, PDF...), titled `title` (default: the
    figure's label), and close it."""
    try:
        return write_figure(figure, out, title)
    finally:
        plt.close(figure)

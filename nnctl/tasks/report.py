"""`nnctl report`: one self-contained HTML page about a run or a sweep, rendered by a Jinja2
template with every value escaped; figures and digits embedded as data: URIs, the mistakes' filter
an inline script of the page's own, nothing loaded from elsewhere.

A run's page: its status (a run still training shows the epochs done so far), its config and what
differs from the defaults, its summary, learning curves, templates or hidden units and their change
over the epochs, and the test split's confusion matrix with every misclassified digit, browsable
by true and predicted class. A sweep's page (report_sweep.py): its points ranked, its figures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.errors import NnctlError, RunDirError, one_line
from nnctl.io.atomic import atomic_write_text
from nnctl.io.checkpoint import load_checkpoint, load_trained
from nnctl.io.config import config_from_dict, config_to_dict, flatten
from nnctl.io.outputs import check_output_file
from nnctl.io.path_kinds import RUN, SWEEP_DIR, expect
from nnctl.io.run_dir import checkpoint_path, load_summary
from nnctl.io.run_info import IGNORED, read_run, value_text
from nnctl.tasks.report_page import Figure, data_uri, figure_png, picture_png, render
from nnctl.tasks.report_sweep import sweep_context
from nnctl.terminal import shown

DIGIT_SCALE = 2  # each misclassified digit shown at twice its pixels


def default_out(target: Path) -> Path:
    """RUN-report.html beside the run (or sweep) directory: never inside a directory nnctl
    owns."""
    target = Path(os.path.abspath(target))
    return target.parent / f"{target.name}-report.html"


def write_report(target: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Write the report of the run or sweep directory `target` to `out` (default
    `default_out`); `out` is checked first (check_output_file: an existing file only with
    `force`, never a run's own file)."""
    target = Path(target)
    kind = directory_kind(target)
    out = check_output_file(default_out(target) if out is None else out, force)
    context = sweep_context(target) if kind == "sweep" else run_context(target)
    atomic_write_text(out, render(context))
    return out


def directory_kind(target: Path) -> str:
    """"run" or "sweep"; a path of another kind is a WrongKindError saying what to do with it,
    anything else a one-line RunDirError."""
    kind = expect(target, (RUN, SWEEP_DIR), "report")
    if kind == RUN:
        return "run"
    if kind == SWEEP_DIR:
        return "sweep"
    if not target.is_dir():
        raise RunDirError(f"{target}: no such directory")
    raise RunDirError(f"{target}: neither a run directory (no metrics.jsonl or checkpoints/) "
                      "nor a sweep directory (no sweep.json)")


# --------------------------------------------------------------------------- a run


def run_context(run_dir: Path) -> dict:
    """What the page shows of a run, from its files as they are now (while it trains too)."""
    info = read_run(run_dir)
    total = info.config.get("training.epochs")
    status = (f"running (epoch {info.epochs} of {total} done)" if info.status == "running"
              else f"{info.status} ({info.epochs} of {total} epochs)")
    sections = {"curves": None, "weights": [], "evaluation": None}
    problems = []
    for key, make in (("curves", curves_figure), ("weights", weight_figures),
                      ("evaluation", evaluation)):
        try:
            sections[key] = make(run_dir)
        except NnctlError as e:
            problems.append(f"{key}: {one_line(e)}")
    return {"kind": "run", "title": f"Run {shown(run_dir.resolve().name)}",
            "path": shown(run_dir), "status": status, "running": info.status == "running",
            "network": info.network, "rule": info.rule, "problem": info.problem,
            "config": config_rows(info.config), "summary": summary_rows(run_dir),
            "problems": problems, **sections}


def config_rows(config: dict) -> list[dict]:
    """Every config key with its value, those that differ from the defaults marked and first."""
    defaults = flatten(config_to_dict(config_from_dict({}, "defaults")))
    rows = [{"key": key, "value": value_text(value), "default": value_text(defaults.get(key)),
             "differs": key not in IGNORED and value != defaults.get(key)}
            for key, value in config.items()]
    return sorted(rows, key=lambda row: not row["differs"])


def summary_rows(run_dir: Path) -> list[tuple[str, str]]:
    """summary.json's figures as (name, text), its nested records left out (the curves show the
    last epoch); none while the run has no summary."""
    summary = load_summary(run_dir) or {}
    rows = []
    for key, value in summary.items():
        if isinstance(value, (dict, list)):
            continue
        if isinstance(value, float) and "accuracy" in key:
            text = f"{value:.2%}"
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = value_text(value)
        rows.append((key, text))
    return rows


def curves_figure(run_dir: Path) -> Figure:
    """The learning curves of the epochs done so far."""
    from nnctl.figures.curves import curves_figure as draw
    from nnctl.figures.curves import loss_kind, pyplot, read_metrics

    records = read_metrics(run_dir)
    figure = draw(pyplot(), [(run_dir, records)], [shown(run_dir.resolve().name)],
                  [loss_kind(run_dir)])
    return Figure(figure_png(figure), "learning curves",
                  f"Accuracy and loss per epoch, {len(records)} epochs (train solid, validation "
                  "dashed)")


def shown_checkpoint(run_dir: Path) -> Path:
    """best.npz, or last.npz before the run has a best; a RunDirError before any checkpoint."""
    for name in ("best.npz", "last.npz"):
        path = checkpoint_path(run_dir, name)
        if path.is_file():
            return path
    raise RunDirError(f"{run_dir}: no checkpoint yet (no epoch finished)")


def weight_figures(run_dir: Path) -> list[Figure]:
    """The templates (single layer) or the first hidden units' filters of the shown checkpoint,
    and their change epoch by epoch when the run keeps epoch checkpoints or snapshots."""
    from nnctl.figures.weights import evolution_pictures, weight_pictures

    path = shown_checkpoint(run_dir)
    network, meta = load_checkpoint(path)
    shape = tuple(meta["image_shape"])
    pictures = weight_pictures(network, shape, units=100, zoom=3)
    name = "templates.png" if "templates.png" in pictures else "hidden-units.png"
    what = "templates" if name == "templates.png" else "first-layer filters"
    figures = [Figure(picture_png(pictures[name]), what,
                      f"The {what} of {path.name} (epoch {meta.get('epoch')})")]
    evolution = evolution_pictures(run_dir, network, shape)
    if "weights-by-epoch.png" in evolution:
        figures.append(Figure(picture_png(evolution["weights-by-epoch.png"][0]),
                              f"{what} by epoch", f"The {what} epoch by epoch"))
    return figures


@dataclass
class Mistake:
    index: int
    true: int
    predicted: int
    output: float
    true_output: float
    png: bytes

    @property
    def uri(self) -> str:
        return data_uri(self.png)


def evaluation(run_dir: Path) -> dict:
    """The shown checkpoint on the test split: accuracy, the confusion matrix and every
    misclassified digit (by true class, then predicted class, then index)."""
    from nnctl.tasks.evaluate import evaluate, evaluation_dataset, outputs

    path, network, meta, config = load_trained(shown_checkpoint(run_dir))
    dataset = evaluation_dataset(path, network, meta, config, "test")
    a = outputs(network, dataset.x)  # one forward pass for the figures and every mistake
    result = evaluate(network, dataset, config.training.loss, config.training.rule, a)
    predicted = a.argmax(1)
    wrong = np.flatnonzero(predicted != dataset.labels)
    wrong = wrong[np.lexsort((wrong, predicted[wrong], dataset.labels[wrong]))]
    images = digit_pictures(dataset.x[wrong], dataset.image_shape)
    mistakes = [Mistake(int(n), int(dataset.labels[n]), int(predicted[n]),
                        float(a[n, predicted[n]]), float(a[n, dataset.labels[n]]), png)
                for n, png in zip(wrong, images)]
    return {"checkpoint": path.name, "epoch": meta.get("epoch"), **result,
            "mistakes": mistakes, "classes": list(range(network.sizes[-1])),
            "width": dataset.image_shape[-1] * DIGIT_SCALE}


def digit_pictures(x: np.ndarray, image_shape: tuple[int, ...]) -> list[bytes]:
    """Each row of network inputs (ink 1, background 0) as a small PNG, ink dark on white."""
    from PIL import Image

    shape = tuple(image_shape) if len(image_shape) == 2 else (1, -1)
    pixels = (255 - np.clip(np.nan_to_num(x), 0, 1) * 255).round().astype(np.uint8)
    return [picture_png(Image.fromarray(row.reshape(shape))) for row in pixels]

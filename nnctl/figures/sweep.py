"""A sweep's figures, from plain data (no sweep import): the metric against each swept parameter
(mean ± sd over the seeds, each seed a dot, a log axis where the values span a decade or more),
and the learning curves of the best points, one colour per point with the band of its seeds.

Files (`write_sweep_figures`): `metric-vs-KEY.png` per swept config key (KEY the dotted key, e.g.
`metric-vs-training.learning_rate.png`) and `best-curves.png`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.figures.curves import pyplot, save_figure
from nnctl.io.run_info import short_key, value_text
from nnctl.terminal import shown

LOG_RATIO = 10.0  # an axis whose positive values span this factor or more is drawn on a log scale
SERIES_LIMIT = 8  # lines per parameter figure, one per combination of the other parameters
FIGURE_NAME = re.compile(r"metric-vs-[A-Za-z0-9_.]+\.png|best-curves\.png")


@dataclass
class SweptPoint:
    """One point of a sweep as its figures need it: its label, its parameters' values and the
    metric of each of its seeds' trials (all present: a ranked point)."""

    label: str
    values: dict
    metrics: list[float]


@dataclass
class PointCurves:
    """The epochs of the trials of one point (one list of metrics records per seed)."""

    label: str
    seeds: list[list[dict]]


def figure_name(key: str) -> str:
    """The file of the figure of the swept config key `key`."""
    return f"metric-vs-{re.sub(r'[^A-Za-z0-9_.]', '_', key)}.png"


def write_sweep_figures(directory: Path, parameters: list[str], metric: str,
                        points: list[SweptPoint], curves: list[PointCurves]) -> list[Path]:
    """Draw `metric-vs-KEY.png` for each swept parameter and `best-curves.png` into `directory`
    (files the sweep owns: replaced); none when no point is ranked."""
    if not points:
        return []
    plt = pyplot()
    written = [save_figure(metric_vs_parameter(plt, points, key, metric), plt,
                           directory / figure_name(key)) for key in parameters]
    if curves:
        written.append(save_figure(best_curves(plt, curves, metric), plt,
                                   directory / "best-curves.png"))
    return written


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def spans_decades(values: list[float]) -> bool:
    """Positive values whose largest is LOG_RATIO times the smallest or more."""
    return min(values) > 0 and max(values) / min(values) >= LOG_RATIO


def metric_vs_parameter(plt, points: list[SweptPoint], key: str, metric: str):
    """The metric of each point against its value of `key`: a dot per seed, the mean with an
    error bar of ± one sample sd; a line per combination of the other parameters' values (when
    there are at most SERIES_LIMIT and they repeat), else the points alone."""
    numeric = all(is_number(p.values.get(key)) for p in points)
    categories = list(dict.fromkeys(value_text(p.values.get(key)) for p in points))

    def x_of(p: SweptPoint) -> float:
        value = p.values.get(key)
        return float(value) if numeric else float(categories.index(value_text(value)))

    others = [k for k in dict.fromkeys(k for p in points for k in p.values) if k != key]
    series: dict[str, list[SweptPoint]] = {}
    for p in points:
        name = " ".join(f"{short_key(k)}={value_text(p.values.get(k))}" for k in others)
        series.setdefault(name, []).append(p)
    joined = len(series) <= SERIES_LIMIT and all(len(s) > 1 for s in series.values())
    figure, axes = plt.subplots(figsize=(7.2, 4.6), layout="constrained")
    for k, (name, members) in enumerate(series.items() if joined else [("", points)]):
        members = sorted(members, key=x_of)
        xs = np.array([x_of(p) for p in members])
        means = np.array([np.mean(p.metrics) for p in members])
        sds = np.array([np.std(p.metrics, ddof=1) if len(p.metrics) > 1 else 0.0
                        for p in members])
        colour = f"C{k % 10}"
        for x, p in zip(xs, members):
            axes.plot([x] * len(p.metrics), p.metrics, ".", color=colour, alpha=0.35,
                      markersize=6)
        axes.errorbar(xs, means, yerr=sds, color=colour, marker="o", capsize=4,
                      linestyle="-" if joined else "none",
                      label=shown(name).replace("$", r"\$") if name and joined else None)
    _label_axes(axes, points, key, metric, numeric, categories)
    if joined and len(series) > 1:
        axes.legend(fontsize=9, title="other parameters", title_fontsize=9)
    return figure


def _label_axes(axes, points: list[SweptPoint], key: str, metric: str, numeric: bool,
                categories: list[str]) -> None:
    from matplotlib.ticker import PercentFormatter

    seeds = sorted({len(p.metrics) for p in points})
    if numeric:
        xs = [float(p.values[key]) for p in points]
        if spans_decades(xs):
            axes.set_xscale("log")
    else:
        axes.set_xticks(range(len(categories)), [c.replace("$", r"\$") for c in categories])
        axes.set_xlim(-0.5, len(categories) - 0.5)
    ys = [m for p in points for m in p.metrics]
    if metric == "val_loss" and all(math.isfinite(y) for y in ys) and spans_decades(ys):
        axes.set_yscale("log")
    if metric == "val_accuracy":
        axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    over = "–".join(map(str, (seeds[0], seeds[-1]))) if len(seeds) > 1 else str(seeds[0])
    axes.set(xlabel=key, ylabel=f"{metric} (best epoch of a trial)",
             title=f"{metric} against {key}\nmean ± sd over {over} seeds (dots: the seeds)")
    axes.grid(True, alpha=0.3, which="both" if axes.get_xscale() == "log" else "major")


def best_curves(plt, curves: list[PointCurves], metric: str):
    """Accuracy and loss per epoch of the best points: per point (one colour), the mean over its
    seeds of validation (solid, with a band of ± one sd) and train (dashed); the epochs a seed
    did not reach (stopped early) are left out of the mean."""
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    figure, panels = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for k, point in enumerate(curves):
        colour = f"C{k % 10}"
        for axes, name in zip(panels, ("accuracy", "loss")):
            epochs, mean, sd = seed_band(point.seeds, f"val_{name}")
            if len(epochs):
                axes.plot(epochs, mean, color=colour, marker=".",
                          label=shown(f"{k + 1}. {point.label or 'base'} "
                                      f"({len(point.seeds)} seeds)").replace("$", r"\$"))
                axes.fill_between(epochs, mean - sd, mean + sd, color=colour, alpha=0.2,
                                  linewidth=0)
            epochs, mean, _ = seed_band(point.seeds, f"train_{name}")
            axes.plot(epochs, mean, color=colour, linestyle="--", linewidth=1)
    panels[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    panels[0].set(title="accuracy", ylabel="examples classified right")
    panels[1].set(title="loss", ylabel="mean loss per example")
    for axes in panels:
        axes.set(xlabel="epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
    from matplotlib.lines import Line2D

    handles, labels = panels[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="black"), Line2D([], [], color="black", linestyle="--")]
    labels += ["validation: mean, band ± sd", "train: mean"]
    figure.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)),
                  frameon=False, fontsize=9)
    figure.suptitle(f"The best {len(curves)} points by {metric}: learning curves over their seeds")
    return figure


def seed_band(seeds: list[list[dict]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The epochs some seed recorded `key` at, and the mean and sample sd (0 for one seed) over the
    seeds that did; non-finite values are left out."""
    by_epoch: dict[int, list[float]] = {}
    for records in seeds:
        for record in records:
            value = record.get(key)
            if value is not None and math.isfinite(value):
                by_epoch.setdefault(int(record["epoch"]), []).append(float(value))
    epochs = sorted(by_epoch)
    mean = np.array([np.mean(by_epoch[e]) for e in epochs])
    sd = np.array([np.std(by_epoch[e], ddof=1) if len(by_epoch[e]) > 1 else 0.0 for e in epochs])
    return np.array(epochs, dtype=float), mean, sd

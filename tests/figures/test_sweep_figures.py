"""The sweep's figures (nnctl/figures/sweep.py): the metric against each swept parameter (mean ±
sd over seeds, log axes where the values span decades) and the best points' learning curves with
their seed band, checked in the drawn Figure and in the written PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnctl.figures.curves import pyplot
from nnctl.figures.sweep import (
    PointCurves,
    SweptPoint,
    best_curves,
    figure_name,
    metric_vs_parameter,
    seed_band,
    write_sweep_figures,
)

LR = "training.learning_rate"
HIDDEN = "model.hidden"


def points(rates, hidden=([300],)) -> list[SweptPoint]:
    """A grid of points, three seeds each, the metric rising with the learning rate."""
    return [SweptPoint(f"lr={lr:g} hidden={h}", {LR: lr, HIDDEN: h},
                       [0.9 + 0.1 * k / len(rates) + 0.002 * s + 0.01 * j for s in range(3)])
            for k, lr in enumerate(rates) for j, h in enumerate(hidden)]


def curves(epochs: int, seeds: int, shift: float = 0.0) -> list[list[dict]]:
    return [[{"epoch": e, "train_accuracy": 0.5 + 0.05 * e + shift,
              "val_accuracy": 0.5 + 0.04 * e + 0.01 * s + shift,
              "train_loss": 1.0 / e, "val_loss": 1.2 / e + 0.01 * s}
             for e in range(1, epochs + 1)] for s in range(seeds)]


@pytest.fixture
def plt():
    plt = pyplot()
    yield plt
    plt.close("all")


def error_bars(axes):
    """(x, mean, sd) of each error-bar series of `axes`."""
    found = []
    for container in axes.containers:
        line, (bars,) = container.lines[0], container.lines[2]
        x, y = line.get_data()
        segments = bars.get_segments()
        sd = np.array([(top[1] - bottom[1]) / 2 for bottom, top in segments])
        found.append((np.asarray(x), np.asarray(y), sd))
    return found


def test_learning_rates_spanning_decades_are_on_a_log_axis_with_mean_and_sd(plt):
    swept = points([0.001, 0.01, 0.1])
    figure = metric_vs_parameter(plt, swept, LR, "val_accuracy")
    (axes,) = figure.axes
    assert axes.get_xscale() == "log"
    assert axes.get_xlabel() == LR
    assert "mean ± sd over 3 seeds" in axes.get_title()
    ((x, mean, sd),) = error_bars(axes)
    assert x.tolist() == [0.001, 0.01, 0.1]
    assert mean == pytest.approx([np.mean(p.metrics) for p in swept])
    assert sd == pytest.approx([np.std(p.metrics, ddof=1) for p in swept])
    seeds = [line for line in axes.lines if line.get_marker() == "." and len(line.get_xdata()) == 3]
    assert sorted(y for line in seeds for y in line.get_ydata()) == pytest.approx(
        sorted(m for p in swept for m in p.metrics))
    assert axes.yaxis.get_major_formatter().__class__.__name__ == "PercentFormatter"


def test_values_within_a_decade_stay_linear(plt):
    (axes,) = metric_vs_parameter(plt, points([0.02, 0.05, 0.1]), LR, "val_accuracy").axes
    assert axes.get_xscale() == "linear"


def test_a_grid_draws_a_line_per_value_of_the_other_parameter(plt):
    swept = points([0.001, 0.01, 0.1], hidden=([100], [300]))
    (axes,) = metric_vs_parameter(plt, swept, LR, "val_accuracy").axes
    assert len(error_bars(axes)) == 2
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["hidden=[100]",
                                                                     "hidden=[300]"]


def test_lists_and_names_are_categories_on_the_axis(plt):
    swept = points([0.05], hidden=([100], [300, 100], [800]))
    (axes,) = metric_vs_parameter(plt, swept, HIDDEN, "val_accuracy").axes
    plt.gcf().canvas.draw()
    assert [t.get_text() for t in axes.get_xticklabels()] == ["[100]", "[300,100]", "[800]"]


def test_the_best_curves_are_a_mean_per_point_with_its_seed_band(plt):
    best = [PointCurves("lr=0.1", curves(4, 3)), PointCurves("lr=0.01", curves(3, 2, -0.1))]
    figure = best_curves(plt, best, "val_accuracy")
    accuracy, loss = figure.axes[:2]
    assert "best 2 points by val_accuracy" in figure.get_suptitle()
    solid = [line for line in accuracy.lines if line.get_linestyle() == "-"]
    assert len(solid) == 2 and solid[0].get_color() != solid[1].get_color()
    _, mean, sd = seed_band(best[0].seeds, "val_accuracy")
    assert solid[0].get_ydata() == pytest.approx(mean)
    assert sd == pytest.approx([0.01] * 4)  # seeds 0.01 apart: sd of (0, 0.01, 0.02)
    bands = accuracy.collections
    assert len(bands) == 2
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx((mean - sd).min()) and ys.max() == pytest.approx(
        (mean + sd).max())
    assert len([line for line in loss.lines if line.get_linestyle() == "--"]) == 2
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend[:2] == ["1. lr=0.1 (3 seeds)", "2. lr=0.01 (2 seeds)"]


def test_a_seed_stopped_early_leaves_the_band_at_its_last_epoch():
    seeds = curves(4, 2)
    seeds[1] = seeds[1][:2]
    epochs, mean, sd = seed_band(seeds, "val_accuracy")
    assert epochs.tolist() == [1, 2, 3, 4]
    assert sd[2:].tolist() == [0, 0]
    assert mean[3] == pytest.approx(seeds[0][3]["val_accuracy"])


def test_the_files_are_pngs_named_for_each_parameter(tmp_path):
    swept = points([0.001, 0.01, 0.1], hidden=([100], [300]))
    written = write_sweep_figures(tmp_path, [LR, HIDDEN], "val_loss", swept,
                                  [PointCurves(swept[0].label, curves(3, 3))])
    assert [p.name for p in written] == ["metric-vs-training.learning_rate.png",
                                         "metric-vs-model.hidden.png", "best-curves.png"]
    assert figure_name(LR) == written[0].name
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 600 and image.height > 400
            assert len(image.getcolors(1 << 20)) > 20  # drawn, not blank
    assert write_sweep_figures(tmp_path / "none", [LR], "val_loss", [], []) == []

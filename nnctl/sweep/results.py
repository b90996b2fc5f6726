"""A sweep's results: its points ranked by the validation metric (mean ± sd over seeds), the
files results.csv and results.jsonl, the best point's test accuracy, and the sweep's figures
(the metric against each swept parameter, the learning curves of the best points).

A trial's metric is its best over its epochs: the highest val_accuracy (the epoch whose weights
best.npz keeps) or the lowest val_loss. A point is ranked once all its trials have a metric
(finished, stopped by a stop condition, or stopped early by ASHA); a point with a diverged or
failed trial is listed after the ranked ones, with the reason. Test figures are never used to
rank: the best point's test accuracy is reported once, after it was chosen. A sweep without a
ranked point has no result: `best_line` is then an error (the command exits 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from nnctl.errors import NnctlError, one_line
from nnctl.io.atomic import atomic_write_text
from nnctl.io.records import csv_text, dumps
from nnctl.io.run_info import mean_sd
from nnctl.sweep.spec import METRICS, Sweep, point_label
from nnctl.terminal import plural, shown

HAS_METRIC = ("finished", "stopped", "early-stopped")
BEST_PLOTTED = 3  # points whose learning curves best-curves.png draws


@dataclass
class PointResult:
    point: int
    label: str
    values: dict
    trials: list[dict]  # the trials' outcomes, in seed order (id, seed, status, figures)
    mean: float | None  # of the metric over the trials, when every one has it
    sd: float | None

    @property
    def ranked(self) -> bool:
        return self.mean is not None


def point_results(sweep: Sweep, outcomes: dict[str, dict]) -> list[PointResult]:
    """The points of the sweep whose trials are all done, ranked best first by the metric, then
    the unranked ones (a trial diverged or failed) in point order."""
    results = []
    for point in range(sweep.points):
        trials = sweep.trials[point * len(sweep.seeds):(point + 1) * len(sweep.seeds)]
        if not all(trial.id in outcomes for trial in trials):
            continue
        done = [{"id": trial.id, "seed": trial.seed, **outcomes[trial.id]} for trial in trials]
        values = [t.get(sweep.metric) for t in done]
        complete = all(t["status"] in HAS_METRIC and v is not None for t, v in zip(done, values))
        mean, sd = mean_sd(values) if complete else (None, None)
        results.append(PointResult(point, point_label(trials[0].values), trials[0].values, done,
                                   mean, sd))
    sign = -1 if METRICS[sweep.metric] == "max" else 1
    ranked = sorted((r for r in results if r.ranked), key=lambda r: (sign * r.mean, r.point))
    return ranked + [r for r in results if not r.ranked]


def result_rows(sweep: Sweep, results: list[PointResult]) -> list[dict]:
    """One row per point for results.csv / results.jsonl (validation figures only)."""
    rows = []
    for rank, r in enumerate(results, start=1):
        statuses = [t["status"] for t in r.trials]
        rows.append({
            "rank": rank if r.ranked else None, "point": r.point, "label": r.label,
            **{key: r.values.get(key) for key in sweep.parameters},
            "metric": sweep.metric, "mean": r.mean, "sd": r.sd, "seeds": len(r.trials),
            **{status.replace("-", "_"): statuses.count(status)
               for status in ("finished", "stopped", "early-stopped", "diverged", "failed")},
            "epochs_mean": sum(t.get("epochs", 0) for t in r.trials) / len(r.trials),
            "seconds_mean": sum(t.get("seconds") or 0 for t in r.trials) / len(r.trials),
            "trials": [t["id"] for t in r.trials],
        })
    return rows


def write_results(directory: Path, sweep: Sweep, results: list[PointResult]) -> list[Path]:
    """results.csv and results.jsonl (each trial's figures in the JSON lines too)."""
    rows = result_rows(sweep, results)
    trials = [[{key: t.get(key) for key in ("id", "seed", "status", "epochs", sweep.metric,
                                            "seconds", "message")} for t in r.trials]
              for r in results]
    atomic_write_text(directory / "results.csv",
                      csv_text([{**row, "trials": " ".join(row["trials"])} for row in rows]))
    atomic_write_text(directory / "results.jsonl",
                      "".join(dumps({**row, "trials": t}, digits=None) + "\n"
                              for row, t in zip(rows, trials)))
    return [directory / "results.csv", directory / "results.jsonl"]


def plot_results(directory: Path, sweep: Sweep, results: list[PointResult]) -> list[Path]:
    """The sweep's figures (nnctl.figures.sweep): metric-vs-KEY.png per swept parameter (every
    ranked point, mean ± sd over its seeds) and best-curves.png (the learning curves of the best
    BEST_PLOTTED ranked points, each with the band of its seeds); none without a ranked point."""
    from nnctl.figures.curves import read_metrics
    from nnctl.figures.sweep import PointCurves, SweptPoint, write_sweep_figures
    from nnctl.sweep.state import trial_dir

    ranked = [r for r in results if r.ranked]
    points = [SweptPoint(r.label, r.values, [t[sweep.metric] for t in r.trials])
              for r in sorted(ranked, key=lambda r: r.point)]  # values in the sweep's order
    curves = [PointCurves(r.label, [read_metrics(trial_dir(directory, t["id"]))
                                    for t in r.trials]) for r in ranked[:BEST_PLOTTED]]
    return write_sweep_figures(directory, list(sweep.parameters), sweep.metric, points, curves)


def best_line(sweep: Sweep, results: list[PointResult]) -> str:
    """The best point, and its test accuracy (mean ± sd over its seeds), said once."""
    best = results[0] if results and results[0].ranked else None
    if best is None:
        raise NnctlError(no_result(sweep, results))
    tests = [t["test_accuracy"] for t in best.trials if t.get("test_accuracy") is not None]
    test = (f"test accuracy {_mean_sd(tests, True)} over its {plural(len(tests), 'seed')}"
            if tests else "no test accuracy recorded")
    return (f"best point {best.point} ({best.label or 'the base config'}): {sweep.metric} "
            f"{_mean_sd([t[sweep.metric] for t in best.trials], sweep.metric == 'val_accuracy')};"
            f" {test} (chosen on validation only)")


def no_result(sweep: Sweep, results: list[PointResult]) -> str:
    """Why a sweep without a ranked point chose nothing: how many of its trials failed or
    diverged, and the first one's reason."""
    trials = [t for r in sorted(results, key=lambda r: r.point) for t in r.trials]
    bad = [t for t in trials if t["status"] not in HAS_METRIC or t.get(sweep.metric) is None]
    first = (f"; the first, {bad[0]['id']}, {bad[0]['status']}: "
             f"{one_line(bad[0].get('message') or 'no ' + sweep.metric)[:200]}" if bad else "")
    return (f"the sweep has no result: {len(bad)} of {len(trials)} trials failed or diverged, so "
            f"no point has all its trials finished{first}")


def results_table(sweep: Sweep, results: list[PointResult], directory: Path) -> Table:
    """The terminal's table: rank, point, metric mean ± sd, seeds, epochs, time, what went
    wrong."""
    from rich import box

    percent = sweep.metric == "val_accuracy"
    title = (f"{plural(sweep.points, 'point')} x {plural(len(sweep.seeds), 'seed')}, ranked by "
             f"{sweep.metric} (mean ± sd over seeds)")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  title=escape(title), title_justify="left",
                  min_width=len(title),  # as wide as its title (at most the terminal's): whole
                  # phrases, not a title wrapped to a narrow table's width
                  caption=escape(f"trials in {shown(directory)}/trials/; time: mean training "
                                 "time of a trial"),
                  caption_justify="left")
    notes = [_note(r) for r in results]
    for name, justify in (("#", "right"), ("point", "left"), (sweep.metric, "right"),
                          ("seeds", "right"), ("epochs", "right"), ("time", "right"),
                          *((("note", "left"),) if any(notes) else ())):
        table.add_column(name, justify=justify, overflow="fold")
    for rank, (r, note) in enumerate(zip(results, notes), start=1):
        epochs = sorted({t.get("epochs", 0) for t in r.trials})
        table.add_row(str(rank) if r.ranked else "-",
                      escape(shown(f"{r.point}: {r.label or 'base'}")),
                      _mean_sd([t.get(sweep.metric) for t in r.trials], percent) if r.ranked
                      else "-", str(len(r.trials)),
                      "–".join(map(str, (epochs[0], epochs[-1]) if len(epochs) > 1 else epochs)),
                      f"{sum(t.get('seconds') or 0 for t in r.trials) / len(r.trials):.1f} s",
                      *([escape(note)] if any(notes) else []))
    return table


def _note(result: PointResult) -> str:
    """What kept trials of a point from finishing: `seed 2 diverged`, `1 stopped early`."""
    notes = []
    for status in ("diverged", "failed"):
        seeds = [str(t["seed"]) for t in result.trials if t["status"] == status]
        if seeds:
            notes.append(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)} {status}")
    early = sum(t["status"] == "early-stopped" for t in result.trials)
    if early:
        notes.append(f"{early} stopped early")
    return "; ".join(notes)


def _mean_sd(values: list[float], percent: bool) -> str:
    mean, sd = mean_sd(values)
    return f"{mean:.2%} ± {sd:.2%}" if percent else f"{mean:.4f} ± {sd:.4f}"

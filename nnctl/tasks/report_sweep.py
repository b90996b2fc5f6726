"""The report of a sweep directory: its points ranked (results.jsonl, as the sweep wrote them when
it ended), the best point's test accuracy (its trials' summary.json) and the sweep's figures
(metric-vs-KEY.png, best-curves.png: nnctl/figures/sweep.py). A sweep still running has no
results yet: the page says how many of its trials are done. Read from the files only (the sweep
client is above this layer)."""

from __future__ import annotations

import json
from pathlib import Path

from nnctl.errors import NnctlError, RunDirError
from nnctl.figures.sweep import FIGURE_NAME, figure_name
from nnctl.io.inputs import open_regular
from nnctl.io.run_dir import load_summary
from nnctl.io.run_info import mean_sd, value_text
from nnctl.tasks.report_page import Figure
from nnctl.terminal import shown

MAX_JSON_BYTES = 64 << 20  # sweep.json and results.jsonl (as the sweep bounds them)
MAX_FIGURE_BYTES = 16 << 20


def read_json_text(path: Path, what: str) -> str:
    with open_regular(path, what, RunDirError, MAX_JSON_BYTES) as f:
        return f.read().decode("utf-8", errors="replace")


def read_sweep_file(directory: Path) -> dict:
    """sweep.json: the sweep as expanded (its parameters, metric and trials)."""
    try:
        data = json.loads(read_json_text(directory / "sweep.json", "a sweep file"))
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise RunDirError(f"{directory / 'sweep.json'}: not a sweep of nnctl")
    return data


def read_results(directory: Path) -> list[dict] | None:
    """results.jsonl's rows, best first; None before the sweep has written it."""
    path = directory / "results.jsonl"
    if not path.exists():
        return None
    try:
        rows = [json.loads(line) for line in read_json_text(path, "sweep results").splitlines()
                if line.strip()]
    except (ValueError, RecursionError):
        rows = None
    if rows is None or not all(isinstance(row, dict) and isinstance(row.get("trials"), list)
                               for row in rows):
        raise RunDirError(f"{path}: not the results of an nnctl sweep")
    return rows


def sweep_context(directory: Path) -> dict:
    """What the page shows of a sweep."""
    sweep = read_sweep_file(directory)
    metric = str(sweep.get("metric", "val_accuracy"))
    parameters = list(sweep.get("parameters") or {})
    rows = read_results(directory)
    trials = len(sweep["trials"])
    done = sum((directory / "trials" / str(t.get("id")) / "summary.json").is_file()
               for t in sweep["trials"] if isinstance(t, dict))
    status = (f"finished: {trials} trials" if rows is not None else
              f"no results yet: {done} of {trials} trials done (the results and figures are "
              "written when the sweep ends)")
    return {"kind": "sweep", "title": f"Sweep {shown(directory.resolve().name)}",
            "path": shown(directory), "status": status, "running": rows is None,
            "metric": metric, "parameters": parameters,
            "table": ranked_rows(rows or [], metric, parameters),
            "best": best_point(directory, rows or [], metric),
            "figures": sweep_figures(directory, parameters), "problems": []}


def ranked_rows(rows: list[dict], metric: str, parameters: list[str]) -> list[dict]:
    """The table: rank, point, each parameter's value, metric mean ± sd, seeds, statuses."""
    percent = metric == "val_accuracy"
    table = []
    for row in rows:
        mean, sd = row.get("mean"), row.get("sd")
        table.append({
            "rank": row.get("rank") or "-", "point": row.get("point"),
            "values": [value_text(row.get(key)) for key in parameters],
            "metric": "-" if not isinstance(mean, (int, float)) else
            (f"{mean:.2%} ± {sd or 0:.2%}" if percent else f"{mean:.4f} ± {sd or 0:.4f}"),
            "seeds": row.get("seeds"),
            "epochs": f"{row.get('epochs_mean', 0):.1f}",
            "statuses": ", ".join(f"{row[s]} {s.replace('_', '-')}" for s in
                                  ("finished", "stopped", "early_stopped", "diverged", "failed")
                                  if row.get(s)),
            "trials": " ".join(str(t.get("id")) for t in row["trials"] if isinstance(t, dict))})
    return table


def best_point(directory: Path, rows: list[dict], metric: str) -> str | None:
    """The best point and its test accuracy over its seeds (chosen on validation only)."""
    if not rows or not rows[0].get("rank"):
        return None
    tests = []
    for trial in rows[0]["trials"]:
        try:
            summary = load_summary(directory / "trials" / str(trial.get("id"))) or {}
        except NnctlError:
            continue
        if isinstance(summary.get("test_accuracy"), (int, float)):
            tests.append(summary["test_accuracy"])
    test = "no test accuracy recorded"
    if tests:
        mean, sd = mean_sd(tests)
        test = f"test accuracy {mean:.2%} ± {sd:.2%} over its {len(tests)} seeds"
    return (f"best point {rows[0].get('point')} ({rows[0].get('label') or 'the base config'}): "
            f"{test} (chosen on {metric} only)")


def sweep_figures(directory: Path, parameters: list[str]) -> list[Figure]:
    """The sweep's figures, as it wrote them: one per swept parameter, then the best curves."""
    names = [figure_name(key) for key in parameters] + ["best-curves.png"]
    figures = []
    for name in names:
        path = directory / name
        if not FIGURE_NAME.fullmatch(name) or not path.is_file():
            continue
        with open_regular(path, "a sweep figure", RunDirError, MAX_FIGURE_BYTES) as f:
            png = f.read()
        what = ("the learning curves of the best points, mean and band ± sd over their seeds"
                if name == "best-curves.png" else
                f"the metric against {name[len('metric-vs-'):-len('.png')]}, mean ± sd over "
                "the seeds")
        figures.append(Figure(png, name, f"{name}: {what}"))
    return figures

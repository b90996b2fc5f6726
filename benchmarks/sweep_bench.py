"""`nnctl sweep` against the same trials run one after another with `nnctl train`.

A 24-trial sweep (8 learning rates x 3 seeds of configs/mlp-300.yaml on the first 5,000 training
digits, 1,000 of them for validation, 3 epochs) with --workers 2 on embedded Ray, timed end to
end (Ray's start and stop included), against the 24 `nnctl train` commands of the same configs
in a row. Each side is measured `--repeats` times, alternating; the report gives medians, the
speed-up, and Ray's overhead per trial: the worker time a trial costs beyond the `train` call
inside its task, (sweep wall time x workers - sum of those calls) / trials.

    python benchmarks/sweep_bench.py   (make sweep-bench; make bench appends it to
                                       docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/sweep_bench.py` works from a checkout too

from benchmarks.bench import cpu_model

NNCTL = str(Path(sys.executable).parent / "nnctl")
RATES = [0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2]
SEEDS = [0, 1, 2]
SETTINGS = {"data.limit": 5000, "data.validation": 1000, "training.epochs": 3}
WORKERS = 2


def sweep_file(directory: Path) -> Path:
    base = yaml.safe_load((ROOT / "configs" / "mlp-300.yaml").read_text())
    for key, value in SETTINGS.items():
        section, name = key.split(".")
        base[section][name] = value
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump({"base": base, "seeds": SEEDS, "parameters": {
        "training.learning_rate": {"values": RATES}}}, sort_keys=False))
    return path


def time_sweep(spec: Path, out: Path) -> tuple[float, list[float]]:
    """The sweep's wall time, and the time of each trial's `train` call inside its task."""
    started = time.perf_counter()
    subprocess.run([NNCTL, "sweep", spec, "--out", out, "--workers", str(WORKERS)], check=True,
                   capture_output=True)
    wall = time.perf_counter() - started
    walls = [json.loads(line)["outcome"]["wall"]
             for line in (out / "outcomes.jsonl").read_text().splitlines() if '"outcome"' in line]
    assert len(walls) == len(RATES) * len(SEEDS), "every trial ran"
    return wall, walls


def time_in_a_row(out: Path) -> float:
    """The same 24 runs, one `nnctl train` after another."""
    started = time.perf_counter()
    for rate in RATES:
        for seed in SEEDS:
            sets = [f"{key}={value}" for key, value in
                    {**SETTINGS, "training.learning_rate": rate, "training.seed": seed}.items()]
            subprocess.run([NNCTL, "train", ROOT / "configs" / "mlp-300.yaml", "--quiet",
                            "--out", out / f"lr{rate}-s{seed}",
                            *[arg for s in sets for arg in ("--set", s)]],
                           check=True, capture_output=True)
    return time.perf_counter() - started


def measure(repeats: int) -> dict:
    sweeps, rows, inside = [], [], []
    with tempfile.TemporaryDirectory() as temp, \
            tempfile.TemporaryDirectory(prefix="rb", dir="/tmp") as ray_temp:  # short: sockets
        temp = Path(temp)
        spec = sweep_file(temp)
        os.environ.setdefault("RAY_TMPDIR", ray_temp)
        for k in range(repeats):
            wall, walls = time_sweep(spec, temp / f"sweep-{k}")
            sweeps.append(wall)
            inside.append(sum(walls))
            rows.append(time_in_a_row(temp / f"row-{k}"))
            print(f"repeat {k + 1}: sweep {wall:.1f} s, in a row {rows[-1]:.1f} s",
                  file=sys.stderr)
    trials = len(RATES) * len(SEEDS)
    overheads = [(wall * WORKERS - task) / trials for wall, task in zip(sweeps, inside)]
    return {"sweep": sweeps, "row": rows, "inside": inside, "overhead": overheads,
            "trials": trials}


def report(m: dict, repeats: int) -> str:
    import ray

    sweep, row = statistics.median(m["sweep"]), statistics.median(m["row"])
    cpu = cpu_model()
    runs = {key: ", ".join(f"{s:.1f}" for s in m[key]) for key in ("sweep", "row")}
    overheads = ", ".join(f"{s:.2f}" for s in m["overhead"])
    ratios = ", ".join(f"{r / w:.2f}x" for r, w in zip(m["row"], m["sweep"]))
    return f"""## nnctl sweep: speed-up over runs one after another

Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `make bench` (this part alone:
`make sweep-bench`, `python benchmarks/sweep_bench.py`): {os.cpu_count()} cores
({cpu}), Python {platform.python_version()}, Ray {ray.__version__}. The machine was shared
with other jobs while this ran, so the figures carry their noise; rerun for yours.

Workload: {m['trials']} trials = {len(RATES)} learning rates x {len(SEEDS)} seeds of
`configs/mlp-300.yaml` (784-300-10) with data.limit 5000 (1,000 for validation) and 3 epochs.
`nnctl sweep --workers {WORKERS}` on embedded Ray, timed end to end (Ray's start and stop
included), against the same {m['trials']} `nnctl train --quiet` commands one after another.
Medians of {repeats} repeats, the two sides alternating.

| | median | all repeats |
|---|---:|---|
| `nnctl sweep`, {WORKERS} workers | {sweep:.1f} s | {runs['sweep']} |
| {m['trials']} x `nnctl train`, in a row | {row:.1f} s | {runs['row']} |
| speed-up | **{row / sweep:.2f}x** (target 1.6x on 2 cores) | {ratios} |
| Ray's overhead per trial | {statistics.median(m['overhead']):.2f} s of a worker | {overheads} |

Ray's overhead per trial is the worker time a trial costs beyond the `train` call inside its
task: (sweep wall time x {WORKERS} workers - the sum of those calls) / {m['trials']}; it
includes Ray's start (about 2-3 s here) and stop, shared by all trials. The sweep can beat
twice the speed of one core because a Ray worker is a process that stays: Python, numpy and
the compiled engine are loaded once per worker, not once per run as with `nnctl train`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(report(measure(args.repeats), args.repeats))  # make bench appends it to a report


if __name__ == "__main__":
    main()

"""The memory of `nnctl sweep`'s workers: a 2-worker sweep on full MNIST (2 points x 1 seed of
configs/mlp-300.yaml, 1 epoch, the fused engine), sampled while its trials train.

Every SAMPLE_SECONDS, the Ray workers running a trial (process title `ray::run_trial`, among the
sweep's own descendants: other Ray instances on the machine are left out) are read from
/proc/PID/smaps_rollup: RSS (every page the process maps, shared ones counted in full) and PSS
(shared pages divided among the processes that map them). The report gives the largest sums
over the samples with both workers training, and what the sweep puts into Ray's object store
(its data files' arrays, once).

    python benchmarks/sweep_memory.py   (make sweep-bench and make bench report it after the
                                         speed-up)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NNCTL = str(Path(sys.executable).parent / "nnctl")
WORKERS = 2
RATES = [0.05, 0.1]
SAMPLE_SECONDS = 0.1
TRIAL_TITLE = "ray::run_trial"


# the brief's workload, and the same with distortions: their pixels are kept through training
WORKLOADS = {"plain": {}, "distorted": {"augment": {"affine": {"rotation": 10}}}}


def sweep_file(directory: Path, workload: str) -> Path:
    base = yaml.safe_load((ROOT / "configs" / "mlp-300.yaml").read_text())
    base["training"].update(epochs=1, engine="fused")
    base["data"].update(WORKLOADS[workload])
    path = directory / f"{workload}.yaml"
    path.write_text(yaml.safe_dump({"base": base, "seeds": [0], "parameters": {
        "training.learning_rate": {"values": RATES}}}, sort_keys=False))
    return path


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc/PID/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry))
    return children


def trial_workers(root: int) -> list[int]:
    """The descendants of `root` that are running a trial now."""
    children, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if title.startswith(TRIAL_TITLE):
            found.append(pid)
    return found


def memory(pid: int) -> tuple[int, int, int] | None:
    """RSS, PSS (/proc/PID/smaps_rollup) and peak RSS (VmHWM, /proc/PID/status) of a process,
    in bytes."""
    try:
        lines = (Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                 + Path(f"/proc/{pid}/status").read_text().splitlines())
    except OSError:
        return None
    kb = {line.split(":")[0]: int(line.split()[-2]) for line in lines if line.endswith(" kB")}
    return kb["Rss"] * 1024, kb["Pss"] * 1024, kb["VmHWM"] * 1024


def shared_bytes(spec: Path) -> int:
    """The bytes the sweep puts into the object store: its data files' arrays."""
    from nnctl.io.read_once import read_files
    from nnctl.sweep.data import trial_files
    from nnctl.sweep.spec import load_sweep

    sweep = load_sweep(spec)
    paths = {p for paths in trial_files(sweep, sweep.trials).values() for p in paths}
    return sum(file.array.nbytes for file in read_files(paths).values())


def measure(out: Path, spec: Path) -> dict:
    """The sweep run and sampled while both workers train: the largest sums of their RSS and
    PSS, and of their PSS with the driver's (which wrote the shared arrays); the sum of the
    workers' peak RSS."""
    sweep = subprocess.Popen([NNCTL, "sweep", spec, "--out", out, "--workers", str(WORKERS)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    best, peaks = {"rss": 0, "pss": 0, "with_driver": 0, "samples": 0}, {}
    while sweep.poll() is None:
        workers = trial_workers(sweep.pid)
        figures = {pid: f for pid, f in zip(workers, map(memory, workers)) if f}
        driver = memory(sweep.pid)
        peaks.update({pid: f[2] for pid, f in figures.items()})
        if len(figures) == WORKERS and driver:
            pss = sum(f[1] for f in figures.values())
            best["samples"] += 1
            best["rss"] = max(best["rss"], sum(f[0] for f in figures.values()))
            best["pss"] = max(best["pss"], pss)
            best["with_driver"] = max(best["with_driver"], pss + driver[1])
        time.sleep(SAMPLE_SECONDS)
    if sweep.returncode != 0:
        raise SystemExit(f"the sweep failed: {sweep.stderr.read()}")
    return {**best, "peak_rss": sum(peaks.values())}


def measure_all(directory: Path) -> dict:
    """Each workload measured once."""
    return {name: measure(directory / name, sweep_file(directory, name)) for name in WORKLOADS}


# The same measurement of nnctl before its sweeps shared their data (commit 2b30b55, each trial
# reading the files itself), 2026-12-06 on this 2-core machine: `--json`, bytes.
BEFORE = {"plain": {"rss": 688971776, "pss": 447019008, "with_driver": 528782336,
                    "peak_rss": 756355072},
          "distorted": {"rss": 869195776, "pss": 621487104, "with_driver": 703356928,
                        "peak_rss": 916848640}}


def report(m: dict, shared: int) -> str:
    def row(label: str, key: str) -> str:
        return f"| {label} | " + " | ".join(
            f"{BEFORE[w][key] / 1e6:.0f} → {m[w][key] / 1e6:.0f}" for w in WORKLOADS) + " |"

    return f"""## nnctl sweep: memory of the workers

A sweep of {len(RATES)} points x 1 seed of `configs/mlp-300.yaml` on full MNIST (1 epoch, the
fused engine), plain and with distortions (`data.augment.affine.rotation: 10`), with
`--workers {WORKERS}` on embedded Ray (`python benchmarks/sweep_memory.py`, run by
`make sweep-bench` and `make bench`). The sweep reads its data files once and puts them into
Ray's object store ({shared / 1e6:.0f} MB: the four files' arrays), which the workers map
read-only. Sampled every {SAMPLE_SECONDS} s while both workers trained, largest sums, MB,
before (each trial reading the files itself; nnctl at 2b30b55, 2026-12-06) → now:

| | plain | distorted |
|---|---:|---:|
{row("RSS of both workers (shared pages counted in each)", "rss")}
{row("PSS of both workers (shared pages divided among their users)", "pss")}
{row("PSS of both workers and the driver", "with_driver")}
{row("peak RSS (VmHWM) of both workers, loading included", "peak_rss")}

PSS counts what the node really spends. Sharing pays where a trial keeps its pixels through
training (distortions, input dropout): one copy in the store instead of
one per worker. The plain fused run does not keep them (the engine builds its own sparse rows,
then lets the pixels go), so each worker held only the test and validation pixels (about
12 MB) while it trained, less than its share of the store: with 2 workers the node spends
slightly more. What sharing always saves is the read itself: a trial no longer decompresses and
holds a 55 MB copy of the files while it loads.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="the figures only, as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp, \
            tempfile.TemporaryDirectory(prefix="rm", dir="/tmp") as ray_temp:
        os.environ.setdefault("RAY_TMPDIR", ray_temp)
        figures = measure_all(Path(temp))
        if args.json:
            print(json.dumps(figures))
        else:
            print(report(figures, shared_bytes(sweep_file(Path(temp), "plain"))))


if __name__ == "__main__":
    main()

"""`nnctl train configs/mlp-300.yaml` in a child process: its peak memory and its time end to end.

The numbers come from the run itself (summary.json: epochs, train_seconds, stop_reason,
test_accuracy) and from the child's own peak resident memory; nothing is parsed from its output.
Every run goes to a fresh temporary directory, removed afterwards.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nnctl.io.run_dir import read_summary

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/mlp-300.yaml"
ENGINE = "fused"

# The child writes its own peak to the file named by its first argument: the kernel's ru_maxrss
# of a child also counts the memory of the parent it was forked from (the old image's high-water
# mark is carried over at exec), here this benchmark, holding MNIST and PyTorch.
# /proc/self/status's VmHWM belongs to the new image only.
CHILD = """\
import atexit, sys
peak_file = sys.argv.pop(1)
def report():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            open(peak_file, 'w').write(line.split()[1])
atexit.register(report)
sys.argv[0] = 'nnctl'
from nnctl.__main__ import main
main()
"""


@dataclasses.dataclass
class TrainRun:
    """One finished `nnctl train`: what it ran, how long it took, its peak and its summary."""

    command: list[str]  # as shown in the report: `nnctl train ...`, the run directory <tmpdir>
    epochs: int  # training.epochs asked for
    wall: float  # seconds, the whole command
    peak_kib: int  # the child's VmHWM
    summary: dict  # the run's summary.json


def run_nnctl_train(epochs: int) -> TrainRun:
    """Run `nnctl train CONFIG` for at most `epochs` epochs; exit with a message if it fails."""
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        run_dir, peak_file = Path(tmp) / "run", Path(tmp) / "peak-kib"
        args = ["train", CONFIG, "--out", str(run_dir), "--force", "--quiet",
                "--set", f"training.engine={ENGINE}", "--set", f"training.epochs={epochs}"]
        print("running: nnctl " + " ".join(args), file=sys.stderr, flush=True)
        start = time.perf_counter()
        child = subprocess.run([sys.executable, "-c", CHILD, str(peak_file), *args], cwd=ROOT,
                               capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        summary = read_summary(run_dir)
        if child.returncode != 0 or summary is None or not peak_file.exists():
            raise SystemExit(f"nnctl train failed (exit status {child.returncode}, summary.json "
                             f"{'missing' if summary is None else 'written'}):\n{child.stderr}")
        peak_kib = int(peak_file.read_text())
    shown = ["nnctl", *["<tmpdir>" if arg == str(run_dir) else arg for arg in args]]
    return TrainRun(shown, epochs, wall, peak_kib, summary)


def memory_section(run: TrainRun) -> list[str]:
    """Peak RSS and wall time of one epoch of `nnctl train`."""
    command = (f"`{' '.join(run.command)}` (from the repository root; 784-300-10, one epoch of "
               "55,000 examples, validation 5,000)")
    row = (f"| {run.summary['engine']} | 0 | {run.peak_kib:,} KiB ({run.peak_kib / 1024:.0f} MiB)"
           f" | {run.wall:.1f} s |")
    why = ("Peak RSS is the child's own high-water mark, `VmHWM` in `/proc/self/status`, which it "
           "reports as it exits (`ru_maxrss` of a child would also count this benchmark's memory, "
           "inherited through fork and carried over at exec).")
    return ["## Peak memory of `nnctl train`", "", command, "",
            "| engine | exit status | peak RSS | wall time |", "|---|---:|---:|---:|", row, "", why]


def end_to_end_section(run: TrainRun) -> list[str]:
    """Wall time, time in the epochs and test accuracy of `nnctl train`, from its summary.json."""
    summary = run.summary
    command = (f"`{' '.join(run.command)}`: load the data, train (inverse schedule, patience 3, "
               "validation 5,000: 55,000 examples per epoch), checkpoint every epoch, test the "
               "best one. Epochs, training time, test accuracy and why it stopped are the run's "
               "`summary.json`.")
    row = (f"| {summary['engine']} | {summary['epochs']} of {run.epochs} | {run.wall:.1f} s | "
           f"{summary['train_seconds']:.1f} s | {summary['test_accuracy']:.2%} | "
           f"{run.peak_kib / 1024:.0f} MiB | {summary['stop_reason']} |")
    return ["## End to end: `nnctl train` of 784-300-10", "", command, "",
            ("| engine | epochs run | wall time | of which training | test accuracy | peak RSS | "
             "stopped |"),
            "|---|---:|---:|---:|---:|---:|---|", row]

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
from collections.abc import Callable
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


# Where the memory goes, measured by hand (RSS after each phase of the same command, the phases
# wrapped in-process; tracemalloc for what the data makes): see docs/benchmarks.md's history.
MEMORY_NOTE = [
    ("Where it goes (RSS, MiB, measured 2026-12-06 by wrapping each phase of the command above; "
    "the high-water mark is the largest of these peaks):"),
    "",
    "| phase | holds | RSS after | peak during |",
    "|---|---|---:|---:|",
    "| imports (`nnctl`, numpy, numba) | code | 95 | 95 |",
    ("| training data read | the file's 47 MB of pixel bytes (uint8), kept once; no float copy "
    "(before issue 22: + 188 MB of float32, and 16 MB for validation) | 148 | 159 |"),
    "| test file read | its 7.8 MB of bytes, kept for the end | 155 | 155 |",
    ("| validation at epoch 0 | a batch of 5,000 rows made floats (16 MB) and the forward "
    "pass, its activation applied 1,024 rows at a time | 168 | 191 |"),
    ("| fused engine made, an epoch | numba's first compiled function loaded (LLVM: about 64 MiB "
    "with `libllvmlite.so`'s resident pages), the sparse rows built while the training bytes "
    "are held (25 MB: the pixel bytes as values, read through a table of the 256 inputs, and "
    "2-byte columns; 66 MB of float32 values and int32 columns before), then the bytes let go "
    "| 217 | 259 |"),
    "| validation after the epoch | | 217 | 244 |",
    ("| test of best.npz | the engine gone; a batch of 10,000 rows made floats (31 MB) and the "
    "forward pass | 202 | 246 |"),
    "",
    ("The evaluations' buffers go back to the system when freed (io.machine."
    "return_large_buffers, for every training now, not only streamed ones: -22 MiB at the "
    "peak). With the compiled engine loaded the process holds about 150 MiB before any data, "
    "so 200 MB (191 MiB) leaves about 40 MiB for the data and the evaluation. What the rest "
    "would take: (1) the sparse rows built from the file a block at a time, without the "
    "training bytes held whole (-45 MiB at that moment: the peak would then be the "
    "evaluations', 246 MiB); (2) the evaluation's batch of 10,000 rows (evaluate.BATCH) cannot "
    "shrink without changing the numbers (on this machine float64 outputs of the same rows "
    "differ between batches of 5,000 and 10,000, and float32 ones between batches of 2 rows "
    "and more); (3) below that, numba's own 150 MiB: the compiled engine built ahead of time "
    "rather than loaded through LLVM."),
]


@dataclasses.dataclass
class TrainRun:
    """One finished `nnctl train`: what it ran, how long it took, its peak and its summary."""

    command: list[str]  # as shown in the report: `nnctl train ...`, the run directory <tmpdir>
    epochs: int  # training.epochs asked for
    wall: float  # seconds, the whole command
    peak_kib: int  # the child's VmHWM
    summary: dict  # the run's summary.json


@dataclasses.dataclass
class Child:
    """One `nnctl train` child as `train_child` ran it."""

    status: int  # its exit status (negative: the signal that ended it)
    wall: float  # seconds, the whole command
    peak_kib: int | None  # its VmHWM, None if it did not get to report it
    summary: dict | None  # the run's summary.json, None unless it exited 0
    stderr: str


def train_child(args: list[str], run_dir: Path,
                run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> Child:
    """`nnctl train ARGS` (the run directory `run_dir`) in a child reporting its own peak, run
    by `run` (as subprocess.run: another can put the child in a memory group first)."""
    peak_file = run_dir.with_name(run_dir.name + ".peak-kib")
    start = time.perf_counter()
    child = run([sys.executable, "-c", CHILD, str(peak_file), "train", *args], cwd=ROOT,
                capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    summary = read_summary(run_dir) if child.returncode == 0 else None
    peak = int(peak_file.read_text()) if peak_file.exists() else None
    return Child(child.returncode, wall, peak, summary, child.stderr)


def run_nnctl_train(epochs: int) -> TrainRun:
    """Run `nnctl train CONFIG` for at most `epochs` epochs; exit with a message if it fails."""
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        args = [CONFIG, "--out", str(run_dir), "--force", "--quiet",
                "--set", f"training.engine={ENGINE}", "--set", f"training.epochs={epochs}"]
        print("running: nnctl train " + " ".join(args), file=sys.stderr, flush=True)
        child = train_child(args, run_dir)
        if child.status != 0 or child.summary is None or child.peak_kib is None:
            raise SystemExit(f"nnctl train failed (exit status {child.status}, summary.json "
                             f"{'missing' if child.summary is None else 'written'}):\n"
                             f"{child.stderr}")
    shown = ["nnctl", "train", *["<tmpdir>" if arg == str(run_dir) else arg for arg in args]]
    return TrainRun(shown, epochs, child.wall, child.peak_kib, child.summary)


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
            "| engine | exit status | peak RSS | wall time |", "|---|---:|---:|---:|", row, "", why,
            "", *MEMORY_NOTE]


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

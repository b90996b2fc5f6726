"""What distortions, dropout, momentum and max-norm cost per epoch: `nnctl train` of 784-800-10
plain, with elastic + affine distortions, with dropout, with momentum, max-norm and both, in the
same run, each epoch's seconds from its metrics.

Momentum keeps the fused engine's first layer sparse (lazy per-row catch-up), and so does
max-norm (a scale factor per unit); both together move every row of W^[1] every example
(docs/engines.md), the row that shows what that costs. Momentum's rows lower the learning rate
by 1 - mu, the step it takes in the long run being eta / (1 - mu).

The distortions and masks of the next chunk are prepared in a second thread while the engine
trains the current one (train.py's _Prefetch), so on two free cores their cost hides behind the
engine's; what remains is the engine's own extra work on the denser distorted inputs (bilinear
resampling spreads the strokes: more non-zero pixels for the sparse first layer).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "configs/classic/mlp-800-best.yaml"
VARIANTS = {  # name: the settings on top of BASE (784-800-10, ReLU, softmax + cross-entropy)
    "plain": [],
    "elastic + affine distortions": ["data.augment.elastic.sigma=4",
                                     "data.augment.elastic.alpha=34",
                                     "data.augment.affine.rotation=10",
                                     "data.augment.affine.scale=0.1",
                                     "data.augment.affine.shear=10",
                                     "data.augment.affine.translation=1"],
    "dropout (input 0.2, hidden 0.5)": ["training.dropout.input=0.2",
                                        "training.dropout.hidden=0.5"],
    "momentum 0.9": ["training.momentum=0.9", "training.learning_rate=0.002"],
    "max-norm 3": ["training.max_norm=3"],
    "momentum 0.9 + max-norm 3": ["training.momentum=0.9", "training.learning_rate=0.002",
                                  "training.max_norm=3"],
}
LIMIT = 1.6  # the target: a distorted epoch at most 1.6x the plain one


def command(settings: list[str], epochs: int, out: str, limit: int | None) -> list[str]:
    extra = [arg for s in settings for arg in ("--set", s)]
    if limit:
        extra += ["--set", f"data.limit={limit}"]
    return ["train", BASE, "--out", out, "--force", "--quiet", "--set",
            f"training.epochs={epochs}", "--set", "training.stop.patience=null", *extra]


def epoch_seconds(settings: list[str], epochs: int, limit: int | None) -> list[float]:
    """The seconds of each epoch after the first (which may include compiling)."""
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        args = command(settings, epochs, str(run_dir), limit)
        print("running: nnctl " + " ".join(args), file=sys.stderr, flush=True)
        child = subprocess.run([str(Path(sys.executable).parent / "nnctl"), *args], cwd=ROOT,
                               capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise SystemExit(f"nnctl train failed (exit status {child.returncode}):\n"
                             f"{child.stderr}")
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["seconds"] for line in lines][1:]


def inputs_section(epochs: int, limit: int | None = None) -> tuple[list[str], float | None]:
    """The table, and the distorted epoch's median over the plain one's (`limit`: train on the
    first examples only, for --quick)."""
    medians = {name: statistics.median(epoch_seconds(settings, epochs, limit))
               for name, settings in VARIANTS.items()}
    plain = medians["plain"]
    lines = ["## Distortions and dropout: seconds per epoch of `nnctl train`", "",
             (f"`nnctl train {BASE} --set training.epochs={epochs} --set "
              "training.stop.patience=null` plus each row's `--set`s (784-800-10, 55,000 "
              "examples per epoch, the fused engine); the median of epochs 2 to "
              f"{epochs}, each epoch's `seconds` from `metrics.jsonl`. The next chunk's "
              "distortions and dropout masks are prepared in a second thread while the engine "
              "trains (they depend on the seed, epoch and position only, never on the weights)."),
             "", "| training | s / epoch (median) | vs plain |", "|---|---:|---:|"]
    for name, settings in VARIANTS.items():
        sets = " ".join(f"`{s}`" for s in settings) or "(none)"
        lines.append(f"| {name}: {sets} | {medians[name]:.2f} | "
                     f"{medians[name] / plain:.2f}x |")
    distorted = medians["elastic + affine distortions"] / plain
    return lines, distorted

"""Train every row of the classic MNIST table (configs/classic/) and write docs/results.md.

LeCun, Bottou, Bengio & Haffner (1998), test error without distortions or preprocessing, and
Simard, Steinkraus & Platt (2003). Each row has two configs: `<row>-paper.yaml` (the paper's
architecture, loss and activation where it states them) and `<row>-best.yaml` (the same
architecture with the per-example SGD settings that gave us the lowest validation error).

    python tools/reproduce.py                 # what `make reproduce` runs
    python tools/reproduce.py --only mlp-800  # one row
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = [  # (config stem, the paper's network, the paper's test error in %)
    ("linear", "linear classifier (1-layer NN, the 10-neuron template network)", 12.0),
    ("mlp-300", "2-layer NN, 300 hidden units, mean squared error", 4.7),
    ("mlp-1000", "2-layer NN, 1000 hidden units", 4.5),
    ("mlp-300-100", "3-layer NN, 300+100 hidden units", 3.05),
    ("mlp-500-150", "3-layer NN, 500+150 hidden units", 2.95),
    ("mlp-800", "2-layer NN, 800 hidden units, cross-entropy (Simard 2003)", 1.6),
]
VARIANTS = ("paper", "best")


def train(config: Path, out: Path) -> dict:
    """`nnctl train` in a child (its per-epoch lines show as progress); the run's summary."""
    command = [str(Path(sys.executable).parent / "nnctl"), "train", str(config.relative_to(ROOT)),
               "--out", str(out.relative_to(ROOT)), "--force"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    return {"summary": summary, "wall": wall,
            "command": " ".join(["nnctl", *command[1:]])}


def settings(resolved: Path) -> str:
    """A few words on what a run trained with, from its resolved config.yaml."""
    import yaml

    c = yaml.safe_load(resolved.read_text())
    model, training = c["model"], c["training"]
    parts = [training["rule"]]
    if model["hidden"]:
        parts.append(f"{model['activation']} ({model['init']['scheme']} init)")
    eta = f"eta {training['learning_rate']:g}"
    if training["schedule"] != "constant":
        eta += f" {training['schedule']} decay {training['decay']:g}"
    return ", ".join(parts + [f"{model['output']} + {training['loss']}", eta])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ROW", help="rows to train (config stems)")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "classic")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args(argv)
    rows = [row for row in ROWS if not args.only or row[0] in args.only]
    jobs = [(row, variant) for row in rows for variant in VARIANTS]
    lines = []
    for k, ((stem, network, paper), variant) in enumerate(jobs, start=1):
        config = ROOT / "configs" / "classic" / f"{stem}-{variant}.yaml"
        print(f"[{k}/{len(jobs)}] {config.relative_to(ROOT)}", file=sys.stderr, flush=True)
        out = args.runs.resolve() / f"{stem}-{variant}"
        run = train(config, out)
        s = run["summary"]
        error = 100 * (1 - s["test_accuracy"])
        mark = "**" if error <= paper else ""
        lines.append(
            f"| {network} | {variant}: {settings(out / 'config.yaml')} | {paper:.2f}% | {mark}{error:.2f}%{mark} | "
            f"{s['best_epoch']} of {s['epochs']} | {run['wall']:.0f} s | `{run['command']}` |"
        )
    header = [
        "# The classic MNIST table, reproduced with per-example SGD",
        "",
        (f"Written by `make reproduce` (`python tools/reproduce.py`) on "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.platform()}, "
        f"Python {platform.python_version()}, the fused engine, float32."),
        "",
        ("Every run: the 55,000 first training images, 5,000 held out for model selection (the "
        "checkpoint of the best validation accuracy is the one tested), no distortions, no "
        "preprocessing beyond pixel/255, per-example SGD. Test error on the 10,000 test images; "
        "**bold** where it is at or below the paper's. Epochs: the best epoch, of those run. Wall "
        "time: the whole `nnctl train` command."),
        "",
        "| network (paper) | our settings | paper's test error | our test error | epochs | wall time | command |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + lines) + "\n")
    print("\n".join(header[-2:] + lines))
    print(f"wrote {args.out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train every row of the classic MNIST table (configs/classic/) and write docs/results.md.

LeCun, Bottou, Bengio & Haffner (1998), test error without distortions or preprocessing, and
Simard, Steinkraus & Platt (2003). Each row has two configs: `<row>-paper.yaml` (the paper's
architecture, loss and activation where it states them) and `<row>-best.yaml` (the same
architecture with the per-example SGD settings that gave us the lowest validation error). Every
config is trained once per seed (runs/classic/<row>-<variant>/seed-<k>); the table gives the mean
± sample standard deviation of the test error over the seeds.

    python tools/reproduce.py                 # what `make reproduce` runs
    python tools/reproduce.py --only mlp-800  # one row again; the table keeps the others
    python tools/reproduce.py --seeds 0 1 2 3 4
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

from nnctl.io.run_info import mean_sd

ROOT = Path(__file__).resolve().parent.parent
ROWS = [  # (config stem, the paper's network, the paper's test error in %, group)
    ("linear", "linear classifier (1-layer NN, the 10-neuron template network)", 12.0, "plain"),
    ("mlp-300", "2-layer NN, 300 hidden units, mean squared error", 4.7, "plain"),
    ("mlp-1000", "2-layer NN, 1000 hidden units", 4.5, "plain"),
    ("mlp-300-100", "3-layer NN, 300+100 hidden units", 3.05, "plain"),
    ("mlp-500-150", "3-layer NN, 500+150 hidden units", 2.95, "plain"),
    ("mlp-800", "2-layer NN, 800 hidden units, cross-entropy (Simard 2003)", 1.6, "plain"),
    ("linear-deskew", "linear classifier, deskewing", 8.4, "deskew"),
    ("mlp-300-deskew", "2-layer NN, 300 hidden units, deskewing", 1.6, "deskew"),
    ("mlp-300-distort", "2-layer NN, 300 hidden units, distortions", 3.6, "distortions"),
    ("mlp-1000-distort", "2-layer NN, 1000 hidden units, distortions", 3.8, "distortions"),
    ("mlp-300-100-distort", "3-layer NN, 300+100 hidden units, distortions", 2.5, "distortions"),
    ("mlp-500-150-distort", "3-layer NN, 500+150 hidden units, distortions", 2.45,
     "distortions"),
    ("mlp-800-affine", "784-800-10, cross-entropy, affine distortions (Simard 2003)", 1.1,
     "distortions"),
    ("mlp-800-elastic-mse", "784-800-10, squared error, elastic distortions (Simard 2003)", 0.9,
     "distortions"),
    ("mlp-800-elastic", "784-800-10, cross-entropy, elastic distortions (Simard 2003)", 0.7,
     "distortions"),
    ("mlp-1000-500-elastic", ("784-1000-500-10, tanh, elastic + affine distortions "
     "(Cireșan 2010, on GPUs)"), 0.49, "distortions"),
    ("mlp-800-dropout", ("784-800-10, dropout and max-norm, no distortions (the issue's bar: "
     "1.2%; Srivastava 2014: 1.25% without max-norm)"), 1.2, "dropout"),
    ("mlp-800-dropout-deskew", "784-800-10, dropout, deskewing, no distortions", 1.2, "dropout"),
    ("mlp-1600-dropout", "784-1600-10, dropout, no distortions", 1.2, "dropout"),
]
# The plain and deskewing rows have the paper's settings and ours; the others ours only.
VARIANTS_OF = {"plain": ("paper", "best"), "deskew": ("paper", "best"), "distortions": ("best",),
               "dropout": ("best",)}
GROUPS = tuple(VARIANTS_OF)
SEEDS = (0, 1, 2)


def train(config: Path, out: Path, seed: int) -> None:
    """`nnctl train` in a child (quiet); records the wall time beside the run (reproduce.json)."""
    command = [str(Path(sys.executable).parent / "nnctl"), "train", str(config.relative_to(ROOT)),
               "--out", str(out.relative_to(ROOT)), "--force", "--quiet",
               "--set", f"training.seed={seed}"]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    (out / "reproduce.json").write_text(json.dumps({"wall": time.perf_counter() - start}) + "\n")


def command(config: Path, out: Path, seeds: tuple[int, ...]) -> str:
    """The command that reproduces a row's runs (one per seed)."""
    return (f"for s in {' '.join(map(str, seeds))}; do nnctl train {config.relative_to(ROOT)} "
            f"--out {out.relative_to(ROOT)}/seed-$s --set training.seed=$s; done")


def finished(out: Path) -> list[dict]:
    """The runs of one config trained by this script, one per seed: summary and wall time."""
    runs = []
    for seed_dir in sorted(out.glob("seed-*")):
        try:
            runs.append({"summary": json.loads((seed_dir / "summary.json").read_text()),
                         **json.loads((seed_dir / "reproduce.json").read_text())})
        except (FileNotFoundError, ValueError):
            continue
    return [run for run in runs if "test_accuracy" in run["summary"]]


def settings(resolved: Path) -> str:
    """A few words on what a run trained with, from its resolved config.yaml."""
    import yaml

    c = yaml.safe_load(resolved.read_text())
    model, training = c["model"], c["training"]
    parts = [training["rule"]]
    if model["hidden"]:
        parts.append(f"{model['activation']} ({model['init']['scheme']} init)")
    lr = f"lr {training['learning_rate']:g}"
    if training["schedule"] != "constant":
        lr += f" {training['schedule']} decay {training['decay']:g}"
    dropout = training.get("dropout", {})
    if dropout.get("input") or dropout.get("hidden"):
        parts.append(f"dropout input {dropout['input']:g} hidden {dropout['hidden']:g}")
    if training.get("max_norm"):
        parts.append(f"max-norm {training['max_norm']:g}")
    if training.get("momentum"):
        parts.append(f"momentum {training['momentum']:g}")
    if training.get("average"):
        parts.append(f"the epochs' weights averaged (beta {training['average']:g})")
    return ", ".join(parts + [f"{model['output']} + {training['loss']}", lr])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="ROW", help="rows to train (config stems)")
    parser.add_argument("--group", choices=GROUPS, help="train only this group of rows")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing; rebuild the table")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "classic")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results.md")
    args = parser.parse_args(argv)
    seeds = tuple(args.seeds)
    jobs = [(row, variant, seed) for row in ROWS for variant in VARIANTS_OF[row[3]]
            for seed in seeds
            if not args.table_only and (not args.only or row[0] in args.only)
            and (not args.group or row[3] == args.group)]
    started = time.perf_counter()
    for k, ((stem, _, _, _), variant, seed) in enumerate(jobs, start=1):
        config = ROOT / "configs" / "classic" / f"{stem}-{variant}.yaml"
        elapsed = time.perf_counter() - started
        left = (f", about {elapsed / (k - 1) * (len(jobs) - k + 1) / 60:.0f} min left"
                if k > 1 else "")
        print(f"[{k}/{len(jobs)}] {config.relative_to(ROOT)} seed {seed}{left}", file=sys.stderr,
              flush=True)
        train(config, args.runs.resolve() / f"{stem}-{variant}" / f"seed-{seed}", seed)
    lines = table(args.runs.resolve(), seeds, kept_rows(args.out))
    header = [
        "# The classic MNIST table, reproduced with per-example SGD",
        "",
        (f"Table written by `make reproduce` (`python tools/reproduce.py`) on "
         f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
         f"{platform.platform()}, Python {platform.python_version()}, the fused engine, float32, "
         f"seeds {', '.join(map(str, seeds))}; a row not trained then keeps the figures "
         "of the table before."),
        "",
        ("Every run: the 55,000 first training images, 5,000 held out for model selection (the "
         "checkpoint of the best validation accuracy is the one tested), pixel/255, per-example "
         "SGD; the deskewing rows shear each digit upright by its moments (data.deskew), the "
         "distortion rows draw the distortions of their config's data.augment afresh for every "
         "training example of every epoch. Test error on the 10,000 test images, "
         "mean ± sample standard deviation over the seeds (n = the number of seeds); **bold** "
         "where the mean is at or below the paper's. Per-example SGD in float32 is chaotic: the "
         "same seed gives other digits on another CPU, so a single seed's figure is not a result. "
         "Epochs: the best epoch of each seed. Wall time: median `nnctl train` command. The `best` "
         "configs are the settings with the highest validation accuracy among those we tried."),
        "",
        ("| network (paper) | our settings | paper's test error | our test error (mean ± sd) | n "
         "| best epochs | wall time | command |"),
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(header + lines) + "\n")
    print("\n".join(header[-2:] + lines))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def kept_rows(table_file: Path) -> dict[tuple[str, str], str]:
    """The rows of the table written before, by (network, variant): a row whose runs are not
    here (run directories are not kept) stays as it was measured, so that one row can be
    trained again, or a new one added, without training them all."""
    rows = {}
    if table_file.exists():
        for line in table_file.read_text().splitlines():
            cells = line.split(" | ")
            if line.startswith("| ") and len(cells) > 2 and ":" in cells[1]:
                rows[(cells[0].removeprefix("| "), cells[1].split(":")[0])] = line
    return rows


def table(runs_dir: Path, seeds: tuple[int, ...],
          kept: dict[tuple[str, str], str] | None = None) -> list[str]:
    """A row per config: its runs here if any (trained just now or earlier), else its row of
    the table before (`kept`), else none."""
    lines = []
    for stem, network, paper, group in ROWS:
        for variant in VARIANTS_OF[group]:
            out = runs_dir / f"{stem}-{variant}"
            runs = finished(out)
            if not runs:
                if (network, variant) in (kept or {}):
                    lines.append(kept[(network, variant)])
                continue
            errors = [100 * (1 - run["summary"]["test_accuracy"]) for run in runs]
            mean, sd = mean_sd(errors)
            mark = "**" if mean <= paper else ""
            walls = sorted(run["wall"] for run in runs)
            epochs = ", ".join(f"{r['summary']['best_epoch']}/{r['summary']['epochs']}"
                               for r in runs)
            config = ROOT / "configs" / "classic" / f"{stem}-{variant}.yaml"
            lines.append(
                f"| {network} | {variant}: {settings(out / 'seed-0' / 'config.yaml')} | "
                f"{paper:.2f}% | {mark}{mean:.2f}% ± {sd:.2f}%{mark} | {len(runs)} | {epochs} | "
                f"{walls[len(walls) // 2]:.0f} s | `{command(config, out, seeds)}` |")
    return lines


if __name__ == "__main__":
    sys.exit(main())

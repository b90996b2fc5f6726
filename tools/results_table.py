"""Print a Markdown table of finished runs (summary.json + metrics.jsonl): `make results` uses it."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(run: Path) -> str:
    summary = json.loads((run / "summary.json").read_text())
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    seconds = sum(m["seconds"] for m in metrics)
    rate = sorted(m["examples_per_second"] for m in metrics)[len(metrics) // 2]
    return (
        f"| `configs/{run.name}.yaml` | {summary['test_accuracy']:.2%} | {1 - summary['test_accuracy']:.2%} "
        f"| {summary['best_epoch']} of {summary['epochs']} | {seconds:.0f} s | {rate:,.0f} | "
        f"{summary['stop_reason']} |"
    )


def main(runs: list[str]) -> None:
    print("| config | test accuracy | test error | best epoch (of run) | training time | "
          "examples/s (median epoch) | stopped because |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        print(row(Path(run)))


if __name__ == "__main__":
    main(sys.argv[1:])

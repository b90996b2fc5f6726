"""Print a Markdown table of the shipped configs over seeds: `make results` uses it.

Each argument is a directory holding one run per seed (runs/results/<config>/seed-<k>); each
row gives the mean ± sample standard deviation of the test accuracy over those runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from nnctl.io.run_dir import read_summary
from nnctl.io.run_info import find_runs, read_run, summarise_seeds


def row(directory: Path) -> str:
    infos = [read_run(path) for path in find_runs([directory])]
    s = summarise_seeds(infos)
    error_mean, sd = 1 - s.test_accuracy_mean, s.test_accuracy_sd
    return (f"| `configs/{directory.name}.yaml` | {s.runs} ({', '.join(map(str, s.seeds))}) | "
            f"{s.test_accuracy_mean:.2%} ± {sd:.2%} | {error_mean:.2%} ± {sd:.2%} | "
            f"{', '.join(map(str, s.best_epochs))} | {s.seconds_median:.0f} s | "
            f"{stop_reasons(infos)} |")


def stop_reasons(infos) -> str:
    """Why the runs stopped, each reason once (without its figures)."""
    reasons = {(read_summary(info.path) or {}).get("stop_reason", "?").split(":")[0]
               for info in infos}
    return "; ".join(sorted(reasons))


def main(directories: list[str]) -> None:
    print("| config | seeds | test accuracy (mean ± sd) | test error | best epochs | training time "
          "(median run) | stopped because |")
    print("|---|---|---|---|---|---|---|")
    for directory in directories:
        print(row(Path(directory)))


if __name__ == "__main__":
    main(sys.argv[1:])

"""The Markdown table of the shipped configs over seeds: `make results` writes it into
docs/shipped-results.md (between its `make results` markers), never copied by hand.

Each argument is a directory holding one run per seed (runs/results/<config>/seed-<k>); each
row gives the mean ± sample standard deviation of the test accuracy over those runs. With
`--write PAGE`, the table and the line saying when and where it was measured replace what stands
between PAGE's markers; without, the table is printed.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
from importlib.metadata import version
from pathlib import Path

from nnctl.io.atomic import atomic_write_text
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


BEGIN, END = "<!-- begin: make results -->", "<!-- end: make results -->"


def table(directories: list[str]) -> str:
    header = ("| config | seeds | test accuracy (mean ± sd) | test error | best epochs | training "
              "time (median run) | stopped because |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    return "\n".join(lines + [row(Path(directory)) for directory in directories]) + "\n"


def measured() -> str:
    """When and with what the table was made."""
    return (f"Measured {datetime.date.today():%Y-%m-%d} by `make results` (Python "
            f"{platform.python_version()}, numpy {version('numpy')}, numba {version('numba')}, "
            f"{platform.machine()}), the default fused engine, float32:\n")


def write(page: Path, text: str) -> None:
    """Replace what stands between the page's markers."""
    old = page.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(old):
        raise SystemExit(f"{page}: no {BEGIN} ... {END} markers")
    atomic_write_text(page, pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", old))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs="+")
    parser.add_argument("--write", type=Path, help="the page whose marked table to replace")
    args = parser.parse_args()
    if args.write:
        write(args.write, measured() + "\n" + table(args.directories))
    else:
        print(table(args.directories), end="")


if __name__ == "__main__":
    main()

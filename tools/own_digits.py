"""How well trained networks read digits that are not MNIST's: data/own-digits/ (typeset digits,
see tools/render_digits.py), each file named <digit>-<font>.png. For each group of runs given
(a directory of runs, e.g. one config's seeds), the accuracy of `nnctl predict` on them, mean ± sd
over the runs.

    python tools/own_digits.py runs/classic/mlp-800-best runs/classic/mlp-800-affine-best
"""

from __future__ import annotations

import sys
from pathlib import Path

from nnctl.io.run_info import find_runs, mean_sd
from nnctl.tasks.predict import predict

DIGITS = Path(__file__).resolve().parent.parent / "data" / "own-digits"


def accuracy(run: Path) -> float:
    results = predict(run, [DIGITS])
    right = [r.get("prediction") == int(Path(r["file"]).name[0]) for r in results]
    return sum(right) / len(right)


def main(groups: list[str]) -> None:
    print("| runs | n | accuracy on data/own-digits (mean ± sd) |")
    print("|---|---:|---:|")
    for group in groups:
        scores = [accuracy(run) for run in find_runs([Path(group)])]
        mean, sd = mean_sd(scores)
        print(f"| `{group}` | {len(scores)} | {mean:.1%} ± {sd:.1%} |")


if __name__ == "__main__":
    main(sys.argv[1:])

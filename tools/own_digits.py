"""How well trained networks read digits that are not MNIST's, kind by kind: `nnctl predict`'s
accuracy on data/own-digits/ (typeset digits, see tools/render_digits.py, each file named
<digit>-<font>.png) and on each kind of data/own-digits-kinds/ (photos, scans, drawings, see
tools/make_own_digits.py and its labels.csv), beside the runs' MNIST test accuracy. For each
group of runs given (a run directory, or a directory of runs, e.g. one config's seeds), mean ± sd
over the runs. It trains nothing.

    python tools/own_digits.py runs/classic/mlp-800-best runs/classic/mlp-800-affine-best
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from nnctl.io.run_info import find_runs, mean_sd
from nnctl.tasks.predict import predict

DATA = Path(__file__).resolve().parent.parent / "data"
TYPESET = DATA / "own-digits"
KINDS = DATA / "own-digits-kinds"


def labelled(folder: Path = KINDS) -> dict[str, list[tuple[Path, int]]]:
    """The files of each kind of own-digits-kinds with their digits (labels.csv), and the
    typeset digits of own-digits (the digit is the name's first character) as kind "typeset"."""
    kinds: dict[str, list[tuple[Path, int]]] = {
        "typeset": [(p, int(p.name[0])) for p in sorted(TYPESET.glob("[0-9]-*.png"))]}
    with open(folder / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            kinds.setdefault(row["kind"], []).append((folder / row["file"], int(row["digit"])))
    return kinds


def accuracies(run: Path, kinds: dict[str, list[tuple[Path, int]]]) -> dict[str, float]:
    """`nnctl predict`'s accuracy of `run` on each kind, on all the kinds but typeset together
    ("own digits"), and the run's MNIST test accuracy ("MNIST test")."""
    files = [p for group in kinds.values() for p, _ in group]
    predicted = {r["file"]: r.get("prediction") for r in predict(run, files)}
    right = {kind: [predicted[str(p)] == digit for p, digit in group]
             for kind, group in kinds.items()}
    scores = {kind: sum(r) / len(r) for kind, r in right.items()}
    own = [x for kind, r in right.items() if kind != "typeset" for x in r]
    scores["own digits"] = sum(own) / len(own)
    summary = json.loads((run / "summary.json").read_text())
    scores["MNIST test"] = summary.get("test_accuracy", float("nan"))
    return scores


def main(groups: list[str]) -> None:
    kinds = labelled()
    table = {group: [accuracies(run, kinds) for run in find_runs([Path(group)])]
             for group in groups}
    print("| kind | n | " + " | ".join(f"`{g}` ({len(table[g])} runs)" for g in groups) + " |")
    print("|---|---:|" + "---:|" * len(groups))
    sizes = {kind: len(group) for kind, group in kinds.items()}
    sizes["own digits"] = sum(n for kind, n in sizes.items() if kind != "typeset")
    sizes["MNIST test"] = 10000
    for kind, n in sizes.items():
        cells = []
        for group in groups:
            mean, sd = mean_sd([scores[kind] for scores in table[group]])
            cells.append(f"{mean:.1%} ± {sd:.1%}")
        print(f"| {kind} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

"""`nnctl runs` within 60, 80 and 200 columns (a terminal, or 80 when piped): the differing keys
and the figures are never cut; long names fold, then the time and test columns give way."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from nnctl.cli.text import print_tables, runs_table

KEYS = ["model.activation", "model.hidden", "model.init.scheme", "training.decay",
        "training.learning_rate", "training.rule"]


def row(name: str, rule: str, hidden: list[int], lr: float, val: float, best: int,
        epochs: int, most: int, status: str = "finished") -> dict:
    return {"run": f"runs/sweeps/{name}", "status": status,
            "network": "-".join(map(str, [784, *hidden, 10])), "rule": rule,
            "training.epochs": most, "training.rule": rule, "model.hidden": hidden,
            "model.activation": "sigmoid", "model.init.scheme": "he", "training.decay": 0.05,
            "training.learning_rate": lr, "epochs": epochs, "best_epoch": best,
            "best_val_accuracy": val, "test_accuracy": val - 0.01, "seconds": 123.4,
            "problem": None}


ROWS = [row("perceptron-lr-0.05-seed-0", "perceptron", [], 0.05, 0.894, 30, 30, 30),
        row("backprop-mlp-300-relu-seed-1", "backprop", [300], 0.02, 0.9812, 3, 10, 20,
            "interrupted"),
        row("delta-rule-long-name-of-a-run-seed-2", "delta", [], 0.001, 0.85, 12, 12, 12)]
ROWS[1]["model.activation"] = "relu"


def shown_at(width: int, rows: list[dict] = ROWS, keys: list[str] = KEYS) -> str:
    out = io.StringIO()
    print_tables([runs_table(rows, keys, width)],
                 Console(file=out, width=width, emoji=False, highlight=False))
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 200])
def test_keys_and_figures_are_never_cut(width):
    text = shown_at(width)
    assert max(map(len, text.splitlines())) <= width
    assert "…" not in text
    words = text.split()
    for token in ("rule=perceptron", "hidden=[300]", "lr=0.001", "act=relu", "decay=0.05",
                  "89.40%", "(30)", "98.12%", "(3)", "10/20", "88.40%", "97.12%"):
        assert token in words, (token, text)


def test_at_200_columns_a_run_is_one_line_with_its_time():
    lines = shown_at(200).splitlines()
    line = next(line for line in lines if "perceptron-lr-0.05-seed-0" in line)
    assert "rule=perceptron" in line and "89.40% (30)" in line and "123 s" in line


def test_at_80_columns_the_time_gives_way_and_the_caption_says_so():
    text = shown_at(80)
    assert "123 s" not in text and "time: see --json" in " ".join(text.split())


def test_the_rule_is_not_shown_twice():
    header = next(line for line in shown_at(200).splitlines() if "status" in line)
    assert header.split().count("rule") == 0  # rule= is among the differing keys


def test_one_run_is_one_run_and_the_title_breaks_between_phrases():
    one = [dict(ROWS[0], run="runs/a-very-long-directory-name-for-the-title/perceptron")]
    lines = [line.rstrip() for line in shown_at(60, one, []).splitlines()]
    assert lines[:2] == ["1 run in runs/a-very-long-directory-name-for-the-title/:",
                         "network 784-10, rule perceptron"]

"""Small things the terminal says: a count of one is singular, the epoch lines' columns stay put
at 100%, a table's title breaks between phrases (never within one at 80 columns or piped), and
gradcheck names the rule it checked."""

from __future__ import annotations

import io

import pytest
import yaml
from fake_runs import fake_run
from rich.console import Console

from nnctl.cli.text import epoch_line, gradcheck_table, print_tables, result_lines
from nnctl.sweep.results import point_results, results_table
from nnctl.sweep.spec import load_sweep
from nnctl.tasks.gradcheck import GradcheckFailed, LayerCheck, verdict
from nnctl.tasks.run_state import TrainResult
from nnctl.terminal import phrase_lines, plural


def rendered(table, width: int = 80) -> list[str]:
    out = io.StringIO()
    print_tables([table], Console(file=out, width=width, emoji=False, highlight=False))
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_plural():
    assert [plural(n, "run") for n in (0, 1, 2, 1000)] == ["0 runs", "1 run", "2 runs",
                                                           "1,000 runs"]
    assert plural(1, "seed") == "1 seed"


def test_one_epoch_is_one_epoch(tmp_path):
    history = [{"epoch": 1, "seconds": 1.0, "examples_per_second": 1000.0,
                "val_accuracy": 0.9}]
    result = TrainResult(tmp_path, 1, "reached training.epochs = 1", 1, history,
                         {"loss": 0.3, "accuracy": 0.9})
    assert result_lines(result)[0].startswith("1 epoch in 1.0 s")


def record(epoch: int, train: float, val: float) -> dict:
    return {"epoch": epoch, "train_loss": 0.0012, "train_accuracy": train, "val_loss": 0.0772,
            "val_accuracy": val, "learning_rate": 0.05, "seconds": 8.0,
            "examples_per_second": 1e5}


def test_a_perfect_accuracy_keeps_the_epoch_lines_columns():
    run = fake_run(epochs_done=3, best_epoch=3)
    lines = [epoch_line(record(2, 0.9713, 0.9778), run), epoch_line(record(3, 1.0, 1.0), run)]
    assert "acc 100.0%" in lines[1] and "100.0% *" in lines[1]
    assert [line.index("val") for line in lines] == [lines[0].index("val")] * 2
    assert [line.index("lr") for line in lines] == [lines[0].index("lr")] * 2


def test_the_sweep_tables_title_is_one_line_at_80_columns(tmp_path):
    base = {"model": {"hidden": [8]}, "training": {"epochs": 2},
            "data": {"limit": 300, "validation": 100}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": base, "parameters": {
        "training.learning_rate": {"values": [0.01, 0.1]}}, "seeds": [0, 1, 2]}))
    sweep = load_sweep(path)
    outcomes = {t.id: {"status": "finished", "val_accuracy": 0.9, "epochs": 2, "seconds": 1.0}
                for t in sweep.trials}
    lines = rendered(results_table(sweep, point_results(sweep, outcomes), tmp_path))
    assert lines[0] == ("2 points x 3 seeds, ranked by val_accuracy (mean ± sd over seeds)")


def test_phrase_lines_breaks_between_phrases_only():
    phrases = ["3 runs in runs/sweeps/:", "network 784-300-10,", "rule backprop"]
    assert phrase_lines(phrases, 80) == "3 runs in runs/sweeps/: network 784-300-10, rule backprop"
    assert phrase_lines(phrases, 30) == ("3 runs in runs/sweeps/:\nnetwork 784-300-10,\n"
                                         "rule backprop")


CHECKED = [LayerCheck("layers.1.weight", (10, 784), 20, 1.0, 1e-9)]


@pytest.mark.parametrize("rule, says", [("perceptron", "the perceptron rule against"),
                                        ("delta", "the delta rule against"),
                                        ("backprop", "examples: backprop against")])
def test_gradcheck_names_the_rule_it_checked(rule, says):
    title = " ".join(" ".join(rendered(gradcheck_table(CHECKED, 3, rule), 200)[:2]).split())
    assert says in title and "3 training examples" in title
    if rule != "backprop":
        assert "backprop" not in title
        failed = [LayerCheck("layers.1.weight", (10, 784), 20, 1.0, 0.5)]
        with pytest.raises(GradcheckFailed, match=f"the {rule} rule's step"):
            verdict(failed, rule)


def test_gradcheck_of_one_example_is_singular():
    assert "on 1 training example:" in " ".join(rendered(gradcheck_table(CHECKED, 1), 200))

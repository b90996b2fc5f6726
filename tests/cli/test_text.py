"""What `nnctl train` shows: the summary before training, the epoch lines, the result and
`train --keys`; all of it fits an 80-column terminal (the bar: tests/tasks/test_progress_bar.py)."""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from pathlib import Path

import pytest
from fake_runs import MLP_300, fake_run

import nnctl.engine.fused
from nnctl.cli.text import COMPILE_NOTICE, epoch_line, result_lines, run_summary
from nnctl.io.config import Config, describe_keys
from nnctl.tasks.run_state import TrainResult


def record(epoch: int, **changes) -> dict:
    typical = {"epoch": epoch, "train_loss": 0.0928, "train_accuracy": 0.97131,
               "val_loss": 0.0772, "val_accuracy": 0.97781, "learning_rate": 0.1 / 1.2,
               "seconds": 8.0, "examples_per_second": 107_591.3}
    return {**typical, **changes}


def test_epoch_line_fits_80_columns_and_calls_the_learning_rate_lr():
    run = fake_run(epochs_done=2, best_epoch=2, seconds=8.0)
    line = epoch_line(record(2), run)
    assert len(line) <= 80, (len(line), line)
    assert "lr 0.0833" in line and "eta" not in line
    assert "loss 0.0928 acc 97.13%" in line and "val 0.0772 97.78%" in line
    assert line.endswith("left ~1m04s")  # 8 epochs left x 8 s
    widest = epoch_line(record(10, train_accuracy=1.0), fake_run(epochs_done=10, best_epoch=10))
    assert len(widest) <= 80, widest


def test_epoch_line_marks_a_better_validation_accuracy_only():
    better = epoch_line(record(3), fake_run(epochs_done=3, best_epoch=3))
    worse = epoch_line(record(3), fake_run(epochs_done=3, best_epoch=2))
    assert "97.78% *" in better and "*" not in worse
    assert len(better) == len(worse)  # the columns stay aligned
    no_validation = {k: v for k, v in record(3).items() if not k.startswith("val_")}
    assert "*" not in epoch_line(no_validation, fake_run(epochs_done=3, best_epoch=3, validation=0))


def test_no_time_left_is_shown_after_the_last_epoch():
    last = epoch_line(record(10), fake_run(epochs_done=10, best_epoch=10))
    assert "left" not in last  # nothing left after the last epoch


def test_the_result_line_shows_the_rate_as_the_bar_does():
    result = TrainResult(Path("runs/x"), 2, "reached training.epochs = 2", 2,
                         [record(1, val_accuracy=0.95), record(2)], {"accuracy": 0.9725})
    first = result_lines(result)[0]
    assert first == "2 epochs in 16.0 s (108k ex/s); best val acc 97.78% in epoch 2"


def test_summary_names_the_layers_the_parameter_count_and_what_runs():
    lines = run_summary(fake_run())
    text = "\n".join(lines)
    assert lines[0] == "nnctl: training into runs/mlp-300"
    assert "784-300-10 (238,510 parameters), sigmoid hidden, softmax output" in text
    for words in ("backprop on cross_entropy loss", "seed 0", "55,000 train", "5,000 validation",
                  "10,000 test", "0.1 to 0.0357 in epoch 10 (inverse schedule, decay 0.2)",
                  "after 3 epochs without a better val acc", "engine fused, float32"):
        assert words in text, words
    assert all(len(line) <= 80 for line in lines), text


def test_summary_of_a_resumed_run_says_where_it_goes_on():
    mid_epoch = run_summary(fake_run(epochs_done=2, position=12_288))[0]
    assert mid_epoch == ("nnctl: continuing runs/mlp-300 in epoch 3 of 10, after example 12,288 "
                         "of 55,000")
    at_boundary = run_summary(fake_run(epochs_done=2))[0]
    assert at_boundary == "nnctl: continuing runs/mlp-300 after epoch 2 of 10"
    # an interrupted run prints exactly one line with "resume": the one saying how
    assert not any("resume" in line for line in run_summary(fake_run(epochs_done=2, position=9)))


@pytest.mark.parametrize("compiled", [True, False])
def test_the_compile_notice_appears_exactly_when_the_fused_engine_is_not_compiled(monkeypatch,
                                                                                  compiled):
    monkeypatch.setattr(nnctl.engine.fused, "is_compiled", lambda: compiled)
    assert (COMPILE_NOTICE in run_summary(fake_run())) is not compiled
    reference = {**MLP_300, "training": {**MLP_300["training"], "engine": "reference"}}
    assert COMPILE_NOTICE not in run_summary(fake_run(reference))


def test_is_compiled_looks_for_numbas_index_of_this_source(tmp_path):
    fused = nnctl.engine.fused
    numbas_index = Path(fused.sgd_chunk._cache._cache_file._index_path)  # where numba writes it
    assert numbas_index.parent == Path(fused.__file__).parent / "__pycache__"
    assert not fused.is_compiled(tmp_path)
    index = tmp_path / numbas_index.name
    index.touch()
    assert fused.is_compiled(tmp_path)
    os.utime(index, (0, 0))  # older than fused.py: numba would compile again
    assert not fused.is_compiled(tmp_path)


def _leaf_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            keys += _leaf_keys(hint, f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def test_the_key_list_covers_every_field_of_config_with_type_default_and_help():
    described = describe_keys()
    assert [k["key"] for k in described] == _leaf_keys(Config)
    assert all(k["help"] and k["type"] and k["default"] for k in described)
    by_key = {k["key"]: k for k in described}
    assert by_key["training.learning_rate"]["type"] == "float"
    assert by_key["training.learning_rate"]["default"] == str(Config().training.learning_rate)
    assert by_key["model.hidden"]["type"] == "list[int]"
    assert by_key["training.stop.patience"]["default"] == "null"
    assert "perceptron" in by_key["training.rule"]["help"]  # choices come from the tables


def test_train_keys_lists_every_key_and_help_points_to_it(run):
    listed = run("train", "--keys")
    assert listed.exit_code == 0, listed.stderr
    for key in _leaf_keys(Config):
        assert f"\n{key} (" in listed.stdout, key
    assert all(len(line) <= 80 for line in listed.stdout.splitlines())
    assert "nnctl train --keys" in run("train", "--help").stdout


def test_train_prints_the_summary_epoch_lines_and_a_short_result(run, write_config, tmp_path):
    config = write_config({"model": {"hidden": [16]}, "training": {"epochs": 2}})
    result = run("train", config, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"nnctl: training into {tmp_path / 'run'}"
    assert "784-16-10 (12,730 parameters)" in lines[1]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and all("lr 0.1" in line and "eta" not in line for line in epochs)
    assert "left " in epochs[0] and "left" not in epochs[1]
    out = result.stdout.splitlines()
    assert len(out) == 3 and re.fullmatch(r"2 epochs in [\d.]+ s \([\d.]+k? ex/s\); best val acc "
                                          r"\d+\.\d\d% in epoch \d", out[0]), result.stdout
    assert out[1] == "stopped: reached training.epochs = 2" and out[2].startswith("test accuracy")

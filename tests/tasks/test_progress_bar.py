"""The progress bar of a training epoch: its figures fit an 80-column terminal, in the formats
of a rate and of a time left that the epoch lines share."""

from __future__ import annotations

from fake_runs import fake_run
from tqdm import tqdm

from nnctl.tasks.progress_bar import bar_figures, bar_format, duration, rate, seconds_left


def test_time_left_is_the_remaining_epochs_times_the_mean_epoch_time():
    assert seconds_left([10.0, 20.0], 3) == 45.0
    assert seconds_left([], 3) == 0.0
    assert [duration(s) for s in (0.3, 4.4, 80, 3900)] == ["<1s", "~4s", "~1m20s", "~1h05m"]


def test_the_bar_leaves_room_for_the_bar_at_80_columns():
    run = fake_run(epochs_done=1)  # in epoch 2, 20,480 of 55,000 examples done in 3 s
    figures = bar_figures(run, 20_480, 0.0928 * 20_480, round(0.0287 * 20_480), 3.0)
    shown = tqdm.format_meter(20_480, 55_000, 3.0, ncols=80, prefix=figures,
                              bar_format=bar_format(2, 10))
    assert len(shown) <= 80, shown
    bar = shown.split("|")[1]
    assert len(bar) >= 15, shown
    # the same figure in the same format as the epoch lines and the summary
    assert "acc 97.13%" in figures and "6.8k ex/s" in figures
    # 8 epochs of 8 s and the rest of this one (34,520 examples at 6,827 ex/s) are left
    assert figures.endswith(f"left {duration(8 * 8.0 + 34_520 / (20_480 / 3.0))}")


def test_one_format_for_examples_per_second():
    assert [rate(x) for x in (950, 3_210, 107_591, 1_234_567)] == ["950", "3.2k", "108k", "1.2M"]

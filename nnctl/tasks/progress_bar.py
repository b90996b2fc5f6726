"""The progress bar of a training epoch: tqdm's format and the running figures it shows, in the
formats of a rate and of a time left that the epoch lines and the result share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnctl.tasks.run_state import Run


def rate(examples_per_second: float) -> str:
    """Examples per second, as the bar and the summary show it: `950`, `3.2k`, `108k`, `1.2M`."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if examples_per_second >= scale:
            value = examples_per_second / scale
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return f"{examples_per_second:.0f}"


def duration(seconds: float) -> str:
    """An estimated time: `<1s`, `~45s`, `~1m20s`, `~2h05m`."""
    s = round(seconds)
    if s < 1:
        return "<1s"
    if s < 60:
        return f"~{s}s"
    if s < 3600:
        return f"~{s // 60}m{s % 60:02d}s"
    return f"~{s // 3600}h{s % 3600 // 60:02d}m"


def seconds_left(epoch_seconds: list[float], epochs_left: float) -> float:
    """The remaining epochs times the mean epoch time so far."""
    return epochs_left * sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else 0.0


def bar_format(epoch: int, epochs: int) -> str:
    """tqdm's format for the bar of an epoch; the running figures are its description:
    `epoch 2/10  37%|█████▌         | loss 0.0928 acc 97.13%  108k ex/s  left ~25s`."""
    return f"epoch {epoch}/{epochs} {{percentage:3.0f}}%|{{bar}}| {{desc}}"


def bar_figures(run: Run, seen: int, loss_sum: float, mistakes: int, seconds: float) -> str:
    """The bar's figures after `seen` examples of the epoch, trained in `seconds`."""
    n = len(run.splits.train)
    seconds = max(seconds, 1e-9)
    epoch_seconds = [r["seconds"] for r in run.history] + [seconds * n / seen]
    epochs_left = run.config.training.epochs - run.progress.epoch - seen / n
    return (f"loss {loss_sum / seen:.4f} acc {1 - mistakes / seen:.2%}  "
            f"{rate(seen / seconds)} ex/s  "
            f"left {duration(seconds_left(epoch_seconds, epochs_left))}")

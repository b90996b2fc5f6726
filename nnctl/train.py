"""The epoch loop: example order, learning-rate schedule, stop conditions, metrics, checkpoints.

Every checkpoint carries, beside the weights, the `progress` of training: the epochs done, the
state of the random generator before the next epoch's shuffle, the best epoch so far and, for an
interrupted epoch, how far into it training got. Resuming from it continues with the same example
order and the same sums, so a resumed run writes the same checkpoints, byte for byte, as one that
was never stopped. SIGINT and SIGTERM are deferred to the next chunk boundary: a checkpoint is
never cut short by them.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nnctl.atomic import atomic_write_text
from nnctl.checkpoint import load_checkpoint, save_checkpoint
from nnctl.config import Config, config_to_dict, dump_config
from nnctl.data import (
    PREPROCESSING,
    Splits,
    check_classes,
    data_paths,
    load_training_data,
    make_dataset,
    read_examples,
)
from nnctl.engine import CHUNK_SIZES, Diverged, engine_name, make_engine
from nnctl.errors import CheckpointError, NnctlError
from nnctl.evaluate import loss_and_accuracy
from nnctl.network import Network, init_network
from nnctl.rules import TARGETS
from nnctl.rundir import append_metrics, checkpoint_path, prepare_run_dir, read_history
from nnctl.schedule import learning_rate

SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(NnctlError):
    """Training stopped on SIGINT / SIGTERM after saving where it stood."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = SIGNAL_EXIT[signum]


class TrainingDiverged(NnctlError):
    """The loss became NaN or infinite (exit status 3)."""

    exit_code = 3


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint's metadata."""

    epoch: int  # epochs completed
    rng: dict  # the generator's state before the next epoch's shuffle
    best_epoch: int
    best_val_accuracy: float | None
    position: int = 0  # examples done in epoch `epoch + 1` when it was interrupted
    loss_sum: float = 0.0  # their summed loss, mistakes and seconds
    mistakes: int = 0
    seconds: float = 0.0


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    stop_reason: str
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """SIGINT / SIGTERM only record themselves (in the yielded list) while the block runs."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in SIGNAL_EXIT}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train(
    config: Config,
    run_dir: Path,
    *,
    resume: bool = False,
    show_progress: bool = False,
    on_start: Callable[[], None] = lambda: None,
    on_epoch: Callable[[dict], None] = lambda record: None,
) -> TrainResult:
    """Train the configured network per example (or resume run_dir); write checkpoints and metrics."""
    tc = config.training
    splits = load_training_data(config.data, tc.dtype)
    paths = data_paths(config.data)
    # The test pixels are read now, so that a bad test file fails before any work, and scaled
    # only at the end: the float copy is not held through training.
    test_pixels = read_examples(paths["test_images"], paths["test_labels"])
    check_classes(test_pixels[1], splits.classes, str(paths["test_labels"]))
    train_set = splits.train
    meta = {
        "config": config_to_dict(config),
        "preprocessing": PREPROCESSING,
        "image_shape": list(train_set.image_shape),
        "classes": splits.classes,
    }

    def checkpoint(name: str, metrics: dict, progress: Progress) -> None:
        save_checkpoint(checkpoint_path(run_dir, name), network,
                        dict(meta, epoch=progress.epoch, metrics=metrics,
                             progress=dataclasses.asdict(progress)))

    if resume:
        network, progress, history = _resume_state(run_dir, meta)
        atomic_write_text(run_dir / "config.yaml", dump_config(config))  # with any --set applied
    else:
        rng = np.random.default_rng(tc.seed)
        network = init_network(
            [train_set.x.shape[1], *config.model.hidden, splits.classes],
            config.model.activation, config.model.output,
            config.model.init.scheme, config.model.init.scale, rng, tc.dtype,
        )
        prepare_run_dir(run_dir)
        atomic_write_text(run_dir / "config.yaml", dump_config(config))
        atomic_write_text(run_dir / "metrics.jsonl", "")
        initial = _validation_metrics(network, splits, config)
        progress = Progress(0, rng.bit_generator.state, 0, initial.get("val_accuracy"))
        for name in ("epoch-000.npz", "best.npz", "last.npz"):
            checkpoint(name, initial, progress)
        history = []

    on_start()  # the data and the run directory are good: training begins
    rng = np.random.default_rng()
    rng.bit_generator.state = progress.rng
    targets = TARGETS[tc.rule](train_set.labels, splits.classes, tc.dtype)
    run_chunk = make_engine(tc.engine, network, train_set.x, targets, train_set.labels, tc.rule, tc.loss)
    train_set.x = None  # the engine keeps what it needs (the fused one: the non-zero inputs only)
    chunk = CHUNK_SIZES[engine_name(tc.engine)]
    n = len(train_set)
    stop_reason = f"reached training.epochs = {tc.epochs}"

    with deferred_signals() as received:
        while progress.epoch < tc.epochs:
            epoch = progress.epoch + 1
            eta = learning_rate(tc.schedule, tc.learning_rate, tc.decay, epoch)
            epoch_rng = rng.bit_generator.state
            order = rng.permutation(n) if tc.shuffle else np.arange(n)
            seen, total_loss, mistakes = progress.position, progress.loss_sum, progress.mistakes
            # The perceptron also updates a unit whose score is exactly 0 while the argmax is
            # already right: its loop ("while more classification errors") ends only at an epoch
            # with no update at all.
            weights_before = (_epoch_start_weights(run_dir, network, epoch, seen)
                              if tc.rule == "perceptron" else None)
            bar = tqdm(total=n, initial=seen, desc=f"epoch {epoch}/{tc.epochs}", unit="ex",
                       file=sys.stderr, disable=not show_progress, leave=False, dynamic_ncols=True)
            start = time.perf_counter() - progress.seconds
            while seen < n:
                indices = order[seen : seen + chunk]
                try:
                    chunk_loss, chunk_mistakes = run_chunk(indices, eta)
                except Diverged as d:
                    bar.close()
                    raise TrainingDiverged(
                        f"training diverged: the loss became {d.loss} at epoch {epoch}, example "
                        f"{seen + d.done + 1:,} of {n:,} (training example #{indices[d.done]}); the "
                        f"last good checkpoint is {checkpoint_path(run_dir, 'last.npz')} (epoch "
                        f"{progress.epoch}); try a smaller training.learning_rate (now {tc.learning_rate:g})"
                    ) from None
                total_loss += chunk_loss
                mistakes += chunk_mistakes
                seen += len(indices)
                bar.update(len(indices))
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{1 - mistakes / seen:.4f}",
                                refresh=False)
                if received and seen < n:
                    bar.close()
                    stopped = dataclasses.replace(
                        progress, rng=epoch_rng, position=seen, loss_sum=total_loss,
                        mistakes=mistakes, seconds=time.perf_counter() - start)
                    checkpoint("last.npz", history[-1] if history else {}, stopped)
                    raise _interrupted(received[0], run_dir, f"epoch {epoch}, example {seen:,} of {n:,}")
            seconds = time.perf_counter() - start
            bar.close()

            metrics = {
                "epoch": epoch,
                "train_loss": total_loss / n,
                "train_accuracy": 1.0 - mistakes / n,
                "train_mistakes": mistakes,
                **_validation_metrics(network, splits, config),
                "learning_rate": eta,
            }
            if weights_before is not None:
                metrics["weights_changed"] = not all(map(np.array_equal, weights_before, network.weights))
            val_accuracy = metrics.get("val_accuracy")
            improved = val_accuracy is None or progress.best_val_accuracy is None or \
                val_accuracy > progress.best_val_accuracy
            progress = Progress(
                epoch, rng.bit_generator.state,
                epoch if improved else progress.best_epoch,
                val_accuracy if improved else progress.best_val_accuracy,
            )
            # Order matters for a crash at any point: last.npz is written last and commits the
            # epoch; a resume from the previous last.npz redoes the epoch and rewrites the others.
            checkpoint(f"epoch-{epoch:03d}.npz", metrics, progress)
            if improved:
                checkpoint("best.npz", metrics, progress)
            record = {**metrics, "seconds": seconds, "examples_per_second": n / seconds}
            append_metrics(run_dir, record)
            checkpoint("last.npz", metrics, progress)
            history.append(record)
            on_epoch(record)

            reason = _stop_reason(tc.stop, history, epoch - progress.best_epoch)
            if reason:
                stop_reason = reason
                break
            if received:
                raise _interrupted(received[0], run_dir, f"the end of epoch {epoch}")

    return _finish(run_dir, config, splits, test_pixels, history, progress, stop_reason)


def _resume_state(run_dir: Path, meta: dict) -> tuple[Network, Progress, list[dict]]:
    last = checkpoint_path(run_dir, "last.npz")
    network, saved = load_checkpoint(last)
    if saved.get("image_shape") != meta["image_shape"] or network.sizes[-1] != meta["classes"]:
        raise CheckpointError(f"{last}: was trained on other data ({saved.get('image_shape')}, "
                              f"{network.sizes[-1]} classes)")
    try:
        progress = Progress(**saved["progress"])
    except (KeyError, TypeError):
        raise CheckpointError(f"{last}: has no training progress to resume from") from None
    return network, progress, read_history(run_dir, progress.epoch)


def _epoch_start_weights(run_dir: Path, network: Network, epoch: int, position: int) -> list[np.ndarray]:
    if position == 0:
        return [W.copy() for W in network.weights]
    return load_checkpoint(checkpoint_path(run_dir, f"epoch-{epoch - 1:03d}.npz"))[0].weights


def _interrupted(signum: int, run_dir: Path, where: str) -> Interrupted:
    name = signal.Signals(signum).name
    return Interrupted(f"{name}: stopped at {where}, saved {checkpoint_path(run_dir, 'last.npz')}; "
                       f"resume with: nnctl train --resume {run_dir}", signum)


def _finish(run_dir: Path, config: Config, splits: Splits, test_pixels, history: list[dict],
            progress: Progress, stop_reason: str) -> TrainResult:
    tc = config.training
    best_network = load_checkpoint(checkpoint_path(run_dir, "best.npz"))[0]
    test = make_dataset(*test_pixels, tc.dtype, "test")
    test_loss, test_accuracy = loss_and_accuracy(best_network, test, tc.loss, tc.rule)
    result = TrainResult(run_dir, len(history), stop_reason, progress.best_epoch, history,
                         {"loss": test_loss, "accuracy": test_accuracy})
    summary = {
        "run_dir": str(run_dir),
        "engine": engine_name(tc.engine),
        "epochs": result.epochs,
        "stop_reason": stop_reason,
        "best_epoch": progress.best_epoch,
        "best_val_accuracy": progress.best_val_accuracy if splits.validation is not None else None,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": sum(r["seconds"] for r in history),
        "last": history[-1] if history else {},
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return result


def _validation_metrics(network: Network, splits: Splits, config: Config) -> dict:
    if splits.validation is None:
        return {}
    loss, accuracy = loss_and_accuracy(network, splits.validation, config.training.loss, config.training.rule)
    return {"val_loss": loss, "val_accuracy": accuracy}


def _stop_reason(stop, history: list[dict], epochs_since_best: int) -> str | None:
    """The lecture's stop conditions, checked after each epoch (None: go on)."""
    last = history[-1]
    if stop.no_mistakes and last["train_mistakes"] == 0 and not last.get("weights_changed", False):
        return f"no training mistakes in epoch {last['epoch']}"
    if stop.tolerance is not None and len(history) >= 2:
        before = history[-2]["train_loss"]
        change = abs(last["train_loss"] - before) / max(abs(before), np.finfo(float).tiny)
        if change < stop.tolerance:
            return f"J converged: relative change {change:.2e} < {stop.tolerance}"
    if stop.patience is not None and epochs_since_best >= stop.patience:
        return f"no better validation accuracy for {stop.patience} epochs"
    return None


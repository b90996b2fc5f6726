"""The epoch loop: example order, learning-rate schedule, stop conditions, metrics, checkpoints.

A run directory holds `config.yaml` (the resolved config), `checkpoints/epoch-NNN.npz` (epoch 0 is
the initial weights), `checkpoints/last.npz`, `checkpoints/best.npz` (best validation accuracy; the
last epoch when there is no validation split), `metrics.jsonl` (one JSON line per epoch) and
`summary.json`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from nnctl.checkpoint import atomic_write_text, load_checkpoint, save_checkpoint
from nnctl.config import Config, config_to_dict, dump_config
from nnctl.data import (
    PREPROCESSING, Splits, check_classes, data_paths, load_training_data, make_dataset, read_examples,
)
from nnctl.engine import CHUNK_SIZES, engine_name, make_engine
from nnctl.errors import RunDirError
from nnctl.evaluate import loss_and_accuracy
from nnctl.network import Network, init_network
from nnctl.rules import TARGETS
from nnctl.schedule import learning_rate

OWN_FILES = ("config.yaml", "metrics.jsonl", "summary.json")


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    stop_reason: str
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    test: dict = field(default_factory=dict)


def choose_run_dir(out: str | Path | None, name: str, force: bool) -> Path:
    """`out` if given (refusing a non-empty one unless force), else the first free runs/NAME[-k]."""
    if out is None:
        base = Path("runs") / name
        candidate, k = base, 1
        while candidate.exists():
            k += 1
            candidate = base.with_name(f"{base.name}-{k}")
        return candidate
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise RunDirError(f"{out}: exists and is not empty; choose another --out or pass --force")
    return out


def _prepare_run_dir(run_dir: Path) -> None:
    """Create the directory; with --force on an old run, remove the files a run writes."""
    try:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        for old in run_dir.glob("checkpoints/*.npz"):
            old.unlink()
        for name in OWN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunDirError(f"{run_dir}: cannot write the run directory: {e.strerror or e}") from None


def train(
    config: Config,
    run_dir: Path,
    *,
    show_progress: bool = False,
    on_epoch: Callable[[dict], None] = lambda record: None,
) -> TrainResult:
    """Train the configured network per example; write checkpoints and metrics into run_dir."""
    tc = config.training
    splits = load_training_data(config.data, tc.dtype)
    paths = data_paths(config.data)
    # The test pixels are read now, so that a bad test file fails before any work, and scaled
    # only at the end: the float copy is not held through training.
    test_pixels = read_examples(paths["test_images"], paths["test_labels"])
    check_classes(test_pixels[1], splits.classes, str(paths["test_labels"]))
    rng = np.random.default_rng(tc.seed)
    network = init_network(
        [splits.train.x.shape[1], *config.model.hidden, splits.classes],
        config.model.activation, config.model.output,
        config.model.init.scheme, config.model.init.scale, rng, tc.dtype,
    )
    train_set = splits.train
    targets = TARGETS[tc.rule](train_set.labels, splits.classes, tc.dtype)
    run_chunk = make_engine(tc.engine, network, train_set.x, targets, train_set.labels, tc.rule, tc.loss)
    train_set.x = None  # the engine keeps what it needs (the fused one: the non-zero inputs only)
    chunk = CHUNK_SIZES[engine_name(tc.engine)]

    _prepare_run_dir(run_dir)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    metrics_path = run_dir / "metrics.jsonl"
    metrics_path.write_text("")
    meta = {
        "config": config_to_dict(config),
        "preprocessing": PREPROCESSING,
        "image_shape": list(train_set.image_shape),
        "classes": splits.classes,
    }

    def checkpoint(name: str, epoch: int, metrics: dict) -> None:
        save_checkpoint(run_dir / "checkpoints" / name, network,
                        dict(meta, epoch=epoch, metrics=metrics))

    initial = _validation_metrics(network, splits, config)
    checkpoint("epoch-000.npz", 0, initial)
    best_accuracy, best_epoch = initial.get("val_accuracy", -1.0), 0
    checkpoint("best.npz", 0, initial)
    checkpoint("last.npz", 0, initial)

    history: list[dict] = []
    stop_reason = f"reached training.epochs = {tc.epochs}"
    n = len(train_set)
    for epoch in range(1, tc.epochs + 1):
        eta = learning_rate(tc.schedule, tc.learning_rate, tc.decay, epoch)
        order = rng.permutation(n) if tc.shuffle else np.arange(n)
        total_loss, mistakes = 0.0, 0
        # The perceptron also updates a unit whose score is exactly 0 while the argmax is already
        # right: its loop ("while more classification errors") ends only at an epoch with no update.
        weights_before = [W.copy() for W in network.weights] if tc.rule == "perceptron" else None
        bar = tqdm(total=n, desc=f"epoch {epoch}/{tc.epochs}", unit="ex", file=sys.stderr,
                   disable=not show_progress, leave=False, dynamic_ncols=True)
        start = time.perf_counter()
        seen = 0
        while seen < n:
            indices = order[seen : seen + chunk]
            chunk_loss, chunk_mistakes = run_chunk(indices, eta)
            total_loss += chunk_loss
            mistakes += chunk_mistakes
            seen += len(indices)
            bar.update(len(indices))
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{1 - mistakes / seen:.4f}", refresh=False)
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
        checkpoint(f"epoch-{epoch:03d}.npz", epoch, metrics)
        checkpoint("last.npz", epoch, metrics)
        val_accuracy = metrics.get("val_accuracy")
        if val_accuracy is None or val_accuracy > best_accuracy:
            best_accuracy, best_epoch = (val_accuracy if val_accuracy is not None else -1.0), epoch
            checkpoint("best.npz", epoch, metrics)
        record = {**metrics, "seconds": seconds, "examples_per_second": n / seconds}
        with open(metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        history.append(record)
        on_epoch(record)

        reason = _stop_reason(tc.stop, history, epoch - best_epoch)
        if reason:
            stop_reason = reason
            break

    best_network = load_checkpoint(run_dir / "checkpoints" / "best.npz")[0]
    test = make_dataset(*test_pixels, tc.dtype, "test")
    test_loss, test_accuracy = loss_and_accuracy(best_network, test, tc.loss, tc.rule)
    result = TrainResult(run_dir, len(history), stop_reason, best_epoch, history,
                         {"loss": test_loss, "accuracy": test_accuracy, "epoch": best_epoch})
    summary = {
        "run_dir": str(run_dir),
        "engine": engine_name(tc.engine),
        "epochs": result.epochs,
        "stop_reason": stop_reason,
        "best_epoch": best_epoch,
        "best_val_accuracy": best_accuracy if splits.validation is not None else None,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": sum(r["seconds"] for r in history),
        "last": history[-1] if history else initial,
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


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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nnctl.core.averaging import start_average, update_average
from nnctl.core.distortions import config_distortions
from nnctl.core.dropout import config_dropout
from nnctl.core.momentum_max_norm import Velocity, config_step_options, zero_velocity
from nnctl.core.network import Network, init_network
from nnctl.core.rules import TARGETS
from nnctl.core.schedules import learning_rate
from nnctl.engine import CHUNK_SIZES, Diverged, RunChunk, engine_name, make_engine
from nnctl.engine.inputs import ChunkDistorter, ChunkMasks
from nnctl.errors import (
    SIGNAL_EXIT,
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    NnctlError,
)
from nnctl.io.atomic import atomic_write_text
from nnctl.io.checkpoint import (
    SNAPSHOT_UNITS,
    Progress,
    check_progress,
    load_checkpoint,
    load_training_state,
    save_snapshot,
)
from nnctl.io.config import (
    INIT_CHECK_EXAMPLES,
    Config,
    check_initial_network,
    config_to_dict,
    dump_config,
    network_memory_problem,
)
from nnctl.io.examples import (
    Splits,
    check_classes,
    data_paths,
    load_training_data,
    make_dataset,
    preprocessing,
)
from nnctl.io.idx import read_examples
from nnctl.io.machine import return_large_buffers
from nnctl.io.read_once import ReadFile, file_stamp, idx_reader
from nnctl.io.records import finite_json
from nnctl.io.run_dir import (
    COMPLETE,
    append_metrics,
    check_new_run_dir,
    checkpoint_path,
    claim_run_dir,
    has_checkpoint,
    lock_run,
    read_summary,
    reset_run_files,
    restore_history,
)
from nnctl.tasks.evaluate import loss_and_accuracy
from nnctl.tasks.progress_bar import bar_figures, bar_format
from nnctl.tasks.run_state import Run, TrainResult


def interrupted_after_completion(signum: int, run_dir: Path) -> Interrupted:
    """A signal that came once the run was complete: the exit status still says so."""
    return Interrupted(f"{signal.Signals(signum).name}: received after the run was complete; "
                       f"resume with: nnctl train --resume {run_dir} (it has nothing left to do)",
                       signum)


class TrainingDiverged(NnctlError):
    """The loss became NaN or infinite (exit status 3)."""

    exit_code = 3


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """SIGINT / SIGTERM only record themselves (in the yielded list) while the block runs."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in SIGNAL_EXIT}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train(
    config: Config,
    run_dir: Path | None = None,
    *,
    name: str = "run",
    resume: bool = False,
    force: bool = False,
    show_progress: bool = False,
    on_start: Callable[[Run], None] = lambda run: None,
    on_epoch: Callable[[dict], None] = lambda record: None,
    preread: Mapping[str, ReadFile] | None = None,
) -> TrainResult:
    """Train the configured network per example into a new run directory (`run_dir`, or the
    first free runs/NAME[-k]), or continue the run in `run_dir` (`resume`).

    The directory is claimed and locked for the whole call. From that moment SIGINT and SIGTERM
    end the call with `Interrupted` after saving where training stood, and the run is resumable.

    `preread`: data files already read (read_once.read_files; a sweep's trials get them from
    Ray's object store), used in place of the files while these are unchanged; the same numbers.
    """
    with deferred_signals() as received:
        if resume:
            claim, data = lock_run(Path(run_dir)), None
        else:  # the data is checked before a directory is made for it
            if run_dir is not None:
                check_new_run_dir(Path(run_dir), force)
            data = _load(config, preread)
            data.initial = _initial_network(config, data.splits)
            if received:
                raise Interrupted(f"{signal.Signals(received[0]).name}: stopped while loading "
                                  "the data, before a run directory was made", received[0])
            claim = claim_run_dir(run_dir, name, force)
        with claim as directory:
            if resume and not has_checkpoint(directory):  # stopped before its first checkpoint
                reset_run_files(directory)
            run = _start(config, directory, received, data or _load(config, preread), resume)
            on_start(run)
            complete = _stop_reason_so_far(run)
            summary = read_summary(directory)
            if complete and resume and summary and summary.get("status") in COMPLETE:
                return _already_complete(run, complete, summary)
            (directory / "summary.json").unlink(missing_ok=True)  # written again at the end
            try:
                return _finish(run, complete or _train_epochs(run, show_progress, on_epoch))
            except (Interrupted, TrainingDiverged) as e:
                status = "diverged" if isinstance(e, TrainingDiverged) else "interrupted"
                _write_summary(run, status, {"message": str(e)})
                raise


@dataclass
class _Data:
    splits: Splits
    test_pixels: tuple[np.ndarray, np.ndarray]
    meta: dict  # what every checkpoint records beside the weights and the progress
    # a new run's initial weights and the generator that drew them (next: the epochs' shuffles)
    initial: tuple[Network, np.random.Generator] | None = None


def _load(config: Config, preread: Mapping[str, ReadFile] | None = None) -> _Data:
    """The training splits and the test set's pixels, checked (files in `preread` and unchanged
    since are not read again)."""
    return_large_buffers()  # the loading's, the evaluations' and the chunks' buffers let go
    splits = load_training_data(config.data, config.training.dtype, preread=preread)
    sizes = [splits.train.x.shape[1], *config.model.hidden, splits.classes]
    problem = network_memory_problem(sizes, config.training.dtype)
    if problem:
        raise ConfigError(f"{config.where('model.hidden')}: {problem}")
    if config_distortions(config) and len(splits.train.image_shape) != 2:
        raise ConfigError(f"{config.where('data.augment')}: images of shape "
                          f"{splits.train.image_shape} cannot be distorted (2-D images only)")
    paths = data_paths(config.data)
    # The test pixels are read now, so that a bad test file fails before any work, and scaled
    # only at the end: the float copy is not held through training.
    test_pixels = read_examples(paths["test_images"], paths["test_labels"], idx_reader(preread))
    check_classes(test_pixels[1], splits.classes, str(paths["test_labels"]))
    meta = {
        "config": config_to_dict(config),
        "preprocessing": preprocessing(config.data),
        "image_shape": list(splits.train.image_shape),
        "classes": splits.classes,
    }
    return _Data(splits, test_pixels, meta)


def _start(config: Config, run_dir: Path, received: list[int], data: _Data, resume: bool) -> Run:
    """The network and progress of the last checkpoint (resume), or new weights with the epoch-0
    checkpoints (a run stopped before them starts from scratch when resumed)."""
    splits = data.splits
    if resume and has_checkpoint(run_dir):
        network, progress, history, velocity, average = _resume_state(
            run_dir, data.meta, len(splits.train), config)
        atomic_write_text(run_dir / "config.yaml", dump_config(config))  # with any --set applied
        return Run(config, run_dir, splits, data.test_pixels, data.meta, network, progress,
                   history, received, velocity, average)
    network, rng = data.initial or _initial_network(config, splits)
    atomic_write_text(run_dir / "config.yaml", dump_config(config))
    _stop_if_signalled(received, run_dir, "the start, before the first checkpoint")
    atomic_write_text(run_dir / "metrics.jsonl", "")
    initial = _validation_metrics(network, splits, config)
    progress = Progress(epoch=0, rng=rng.bit_generator.state, best_epoch=0,
                        best_val_accuracy=initial.get("val_accuracy"))
    velocity = (zero_velocity(network.weights, network.biases) if config.training.momentum > 0
                else None)
    run = Run(config, run_dir, splits, data.test_pixels, data.meta, network, progress, [],
              received, velocity)
    _epoch_checkpoint(run, initial)
    for checkpoint in ("best.npz", "last.npz"):  # last.npz commits them
        run.checkpoint(checkpoint, initial, progress)
    return run


def _initial_network(config: Config, splits: Splits) -> tuple[Network, np.random.Generator]:
    """The initial weights, drawn by the generator seeded with training.seed (which goes on to
    shuffle the epochs), checked (`check_initial_network`) on the first training examples."""
    model = config.model
    rng = np.random.default_rng(config.training.seed)
    network = init_network([splits.train.x.shape[1], *model.hidden, splits.classes],
                           model.activation, model.output, model.init.scheme, model.init.scale,
                           rng, config.training.dtype)
    check_initial_network(config, network, splits.train.x[:INIT_CHECK_EXAMPLES])
    return network, rng


def _train_epochs(run: Run, show_progress: bool, on_epoch: Callable[[dict], None]) -> str:
    """Epochs until training.epochs or a stop condition; returns why training stopped."""
    tc = run.config.training
    train_set = run.splits.train
    rng = np.random.default_rng()
    rng.bit_generator.state = run.progress.rng
    targets = TARGETS[tc.rule](train_set.labels, run.splits.classes, tc.dtype)
    run_chunk = make_engine(tc.engine, run.network, train_set.x, targets, train_set.labels,
                            tc.rule, tc.loss, config_step_options(run.config), run.velocity)
    chunk_inputs = _chunk_inputs(run, train_set)
    check_mapped = _mapped_file_check(run.config, train_set)
    train_set.x = None  # the engine keeps what it needs (the fused one: the non-zero inputs only)
    where = f"epoch {run.progress.epoch + 1}, example {run.progress.position:,}"
    _stop_if_signalled(run.received, run.run_dir, f"{where} (starting the engine)")
    while run.progress.epoch < tc.epochs:
        record = _train_epoch(run, run_chunk, rng, show_progress, chunk_inputs)
        on_epoch(record)
        check_mapped(record["epoch"])
        reason = _stop_reason_so_far(run)
        if reason:
            return reason
        _stop_if_signalled(run.received, run.run_dir, f"the end of epoch {record['epoch']}")
    return f"reached training.epochs = {tc.epochs}"


def _mapped_file_check(config: Config, train_set) -> Callable[[int], None]:
    """`check(epoch)`, run after each epoch: with data.stream mapping the training images file,
    a DataError once the file is not as it was when training started (its size or
    modification time changed): what the next epochs would read is not what this run trained
    on. The epoch's checkpoints are written by then; the message says to resume."""
    pixels = getattr(train_set.x, "pixels", None)
    if not config.data.stream or not isinstance(pixels, np.memmap):
        return lambda epoch: None
    path = data_paths(config.data)["train_images"]
    before = file_stamp(path)

    def check(epoch: int) -> None:
        if file_stamp(path) != before:
            raise DataError(f"{path}: changed while training read it (data.stream maps the "
                            f"file); stopped after epoch {epoch}, its checkpoints written: put "
                            "the file back as it was and resume the run")

    return check


# inputs(epoch, start, indices) -> (rows or None, keep or None): see _chunk_inputs
ChunkInputs = Callable[[int, int, np.ndarray], tuple]


def _chunk_inputs(run: Run, train_set) -> ChunkInputs | None:
    """What the engine trains a chunk on besides x[indices], if anything: `inputs(epoch, start,
    indices) -> (rows, keep)`, the chunk's distorted and/or input-dropped rows (or None; with
    data.stream at least x[indices], so that the engine never makes all of x's inputs) and its
    hidden dropout factors (or None), drawn for the positions start, start + 1, ... of the epoch."""
    tc = run.config.training
    distortions, dropout = config_distortions(run.config), config_dropout(run.config)
    stream = run.config.data.stream  # every chunk's rows made from the pixels as it comes
    if not distortions and not dropout and not stream:
        return None
    distorter = (ChunkDistorter(distortions, train_set.x, train_set.image_shape, tc.seed)
                 if distortions else None)
    masks = ChunkMasks(dropout, run.network.sizes, tc.seed, run.network.dtype) if dropout else None
    x = train_set.x if stream or (dropout and dropout.input > 0) else None

    def inputs(epoch: int, start: int, indices: np.ndarray) -> tuple:
        rows = distorter.inputs(epoch, start, indices) if distorter else None
        input_keep, keep = masks.draw(epoch, start, len(indices)) if masks else (None, None)
        if input_keep is not None:  # dropped after distorting: a^[0] = x * keep^[0]
            rows = (x[indices] if rows is None else rows) * input_keep
        elif rows is None and stream:  # the chunk's pixels: the engine makes their inputs
            rows = x.take(indices)
        return rows, keep

    return inputs


class _Prefetch:
    """The chunks' inputs (distortions, dropout masks) prepared one chunk ahead in a second
    thread, while the engine (which releases the GIL) trains the current one. They depend only on
    (seed, epoch, position), never on the weights, so this changes no number."""

    def __init__(self, chunk_inputs: ChunkInputs | None, epoch: int, order: np.ndarray,
                 chunk: int):
        self.chunk_inputs, self.epoch, self.order, self.chunk = chunk_inputs, epoch, order, chunk
        self.pool = ThreadPoolExecutor(1, "nnctl-inputs") if chunk_inputs else None
        self.pending: tuple[int, Future] | None = None

    def _submit(self, start: int) -> None:
        if start < len(self.order):
            indices = self.order[start : start + self.chunk]
            self.pending = (start, self.pool.submit(self.chunk_inputs, self.epoch, start,
                                                    indices))

    def get(self, start: int) -> tuple:
        """(inputs, keep) of the chunk at `start`, and the next chunk's put in hand."""
        if self.pool is None:
            return None, None
        if self.pending is None or self.pending[0] != start:
            self._submit(start)
        result = self.pending[1].result()
        self._submit(start + self.chunk)
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _train_epoch(run: Run, run_chunk: RunChunk, rng: np.random.Generator, show_progress: bool,
                 chunk_inputs: ChunkInputs | None) -> dict:
    """One epoch of per-example SGD, chunk by chunk (on distorted or dropped-out inputs, and
    with hidden dropout, as `chunk_inputs` says), then its metrics and checkpoints."""
    tc, progress, run_dir = run.config.training, run.progress, run.run_dir
    n = len(run.splits.train)
    chunk = CHUNK_SIZES[engine_name(tc.engine)]
    epoch = progress.epoch + 1
    eta = learning_rate(tc.schedule, tc.learning_rate, tc.decay, epoch)
    epoch_rng = rng.bit_generator.state
    order = rng.permutation(n) if tc.shuffle else np.arange(n)
    seen, total_loss = progress.position, progress.loss_sum
    mistakes, updates = progress.mistakes, progress.updates
    bar = tqdm(total=n, initial=seen, bar_format=bar_format(epoch, tc.epochs), file=sys.stderr,
               disable=not show_progress, leave=False, dynamic_ncols=True)
    start = time.perf_counter() - progress.seconds
    with bar, _Prefetch(chunk_inputs, epoch, order, chunk) as prefetch:
        while seen < n:
            indices = order[seen : seen + chunk]
            inputs, keep = prefetch.get(seen)
            try:
                done = run_chunk(indices, eta, inputs, keep)
            except Diverged as d:
                raise _diverged(run, f"the loss became {d.loss}", epoch,
                                f"example {seen + d.done + 1:,} of {n:,} (training example "
                                f"#{indices[d.done]})") from None
            total_loss += done.loss
            mistakes += done.mistakes
            updates += done.updates
            seen += len(indices)
            bar.set_description_str(bar_figures(run, seen, total_loss, mistakes,
                                                time.perf_counter() - start), refresh=False)
            bar.update(len(indices))
            if run.received and seen < n:
                stopped = dataclasses.replace(
                    progress, rng=epoch_rng, position=seen, loss_sum=total_loss,
                    mistakes=mistakes, updates=updates, seconds=time.perf_counter() - start)
                run.checkpoint("last.npz", run.history[-1] if run.history else {}, stopped)
                raise _interrupted(run.received[0], run_dir, f"epoch {epoch}, example {seen:,} "
                                   f"of {n:,}")
    seconds = time.perf_counter() - start
    if not all(np.isfinite(W).all() for W in (*run.network.weights, *run.network.biases)):
        raise _diverged(run, "the weights are no longer finite", epoch, "its end")
    if tc.average > 0:
        if run.average is None:
            run.average = start_average(run.network)
        else:
            update_average(run.average, run.network, tc.average)
    metrics = {
        "epoch": epoch,
        "train_loss": total_loss / n,
        "train_accuracy": 1.0 - mistakes / n,
        "train_mistakes": mistakes,
        "updates": updates,
        **_validation_metrics(run.model, run.splits, run.config),
        "learning_rate": eta,
    }
    _commit_epoch(run, metrics, rng.bit_generator.state)
    record = {**metrics, "seconds": seconds, "examples_per_second": n / seconds}
    append_metrics(run_dir, record)
    run.checkpoint("last.npz", metrics, run.progress)
    run.history.append(record)
    return record


def _commit_epoch(run: Run, metrics: dict, rng_state: dict) -> None:
    """The epoch's progress and checkpoints, but last.npz: written after the metrics line, it
    commits the epoch (a resume from the previous last.npz redoes it and rewrites these)."""
    epoch, progress = metrics["epoch"], run.progress
    val_accuracy = metrics.get("val_accuracy")
    improved = (val_accuracy is None or progress.best_val_accuracy is None
                or val_accuracy > progress.best_val_accuracy)
    run.progress = Progress(
        epoch=epoch, rng=rng_state,
        best_epoch=epoch if improved else progress.best_epoch,
        best_val_accuracy=val_accuracy if improved else progress.best_val_accuracy,
    )
    _epoch_checkpoint(run, metrics)
    if improved:
        run.checkpoint("best.npz", metrics, run.progress)


def _epoch_checkpoint(run: Run, metrics: dict) -> None:
    """epoch-NNN.npz (training.keep: all), or only the first layer's first units, which the
    montage of the weights over epochs draws (training.keep: best-last)."""
    epoch = run.progress.epoch
    if run.config.training.keep == "all":
        run.checkpoint(f"epoch-{epoch:03d}.npz", metrics, run.progress)
    else:
        save_snapshot(checkpoint_path(run.run_dir, f"layer1-{epoch:03d}.npy"),
                      run.model.weights[0][:SNAPSHOT_UNITS])


def _resume_state(run_dir: Path, meta: dict, examples: int, config: Config
                  ) -> tuple[Network, Progress, list[dict], Velocity | None, Network | None]:
    """The network (the weights SGD reached), progress, metrics, momentum velocity and average
    of the epochs' weights of the run's last.npz, checked against the data it trains on
    (`examples` in an epoch) and the config."""
    last = checkpoint_path(run_dir, "last.npz")
    model, saved, velocity, iterate = load_training_state(last)
    if saved.get("preprocessing") != meta["preprocessing"]:
        raise CheckpointError(f"{last}: was trained on inputs prepared otherwise "
                              f"({saved.get('preprocessing')}, now {meta['preprocessing']})")
    if saved.get("image_shape") != meta["image_shape"] or model.sizes[-1] != meta["classes"]:
        raise CheckpointError(f"{last}: was trained on other data ({saved.get('image_shape')}, "
                              f"{model.sizes[-1]} classes)")
    if "progress" not in saved:
        raise CheckpointError(f"{last}: has no training progress to resume from")
    progress = check_progress(saved["progress"], last)
    if progress.position >= examples:
        raise CheckpointError(f"{last}: progress.position is {progress.position:,}, outside the "
                              f"epoch's examples (0 to {examples - 1:,}: the run trains on "
                              f"{examples:,})")
    network, average = _resumed_average(model, iterate, progress, config, last)
    velocity = _resumed_velocity(velocity, network, progress, config, last)
    return network, progress, restore_history(run_dir, progress.epoch), velocity, average


def _resumed_average(model: Network, iterate: Network | None, progress: Progress,
                     config: Config, last: Path) -> tuple[Network, Network | None]:
    """(the weights to train on, the average to go on with) from last.npz's model and SGD
    iterate. A run with training.average holds an iterate from the end of epoch 1 on (its model
    is then the average); one without an iterate, or an iterate in a run without averaging, is
    not this run's checkpoint."""
    if config.training.average == 0:
        if iterate is not None:
            raise CheckpointError(f"{last}: holds an average of the epochs' weights, but the "
                                  "run's training.average is 0")
        return model, None
    if iterate is None:
        if progress.epoch:
            raise CheckpointError(f"{last}: has no average of the epochs' weights to resume "
                                  f"training.average = {config.training.average:g} from "
                                  f"(epoch {progress.epoch})")
        return model, None
    return iterate, model


def _resumed_velocity(velocity: Velocity | None, network: Network, progress: Progress,
                      config: Config, last: Path) -> Velocity | None:
    """The velocity to go on with: last.npz's. Without one, a run with momentum resumes only
    from its very start (epoch 0, position 0), where the velocity is 0; a velocity in a run
    without momentum is refused too: either way the checkpoint is not this run's."""
    if config.training.momentum == 0:
        if velocity is not None:
            raise CheckpointError(f"{last}: holds a momentum velocity, but the run's "
                                  "training.momentum is 0")
        return None
    if velocity is None:
        if progress.epoch or progress.position:
            raise CheckpointError(f"{last}: has no momentum velocity to resume training.momentum "
                                  f"= {config.training.momentum:g} from (epoch "
                                  f"{progress.epoch}, example {progress.position:,})")
        return zero_velocity(network.weights, network.biases)
    return velocity


def _interrupted(signum: int, run_dir: Path, where: str) -> Interrupted:
    name = signal.Signals(signum).name
    saved = checkpoint_path(run_dir, "last.npz")
    state = f"saved {saved}" if saved.exists() else "no checkpoint yet: resuming starts it over"
    return Interrupted(f"{name}: stopped at {where}, {state}; resume with: nnctl train --resume "
                       f"{run_dir}", signum)


def _stop_if_signalled(received: list[int], run_dir: Path, where: str) -> None:
    """At a point where the run on disk is resumable: stop if SIGINT / SIGTERM came."""
    if received:
        raise _interrupted(received[0], run_dir, where)


def _diverged(run: Run, what: str, epoch: int, where: str) -> TrainingDiverged:
    last = checkpoint_path(run.run_dir, "last.npz")
    return TrainingDiverged(
        f"training diverged: {what} at epoch {epoch}, {where}; the last good checkpoint is "
        f"{last} (epoch {run.progress.epoch}); try a smaller training.learning_rate (now "
        f"{run.config.training.learning_rate:g})")


def _stop_reason_so_far(run: Run) -> str | None:
    """Why the run is complete at its last finished epoch (None: training goes on)."""
    progress, history = run.progress, run.history
    if progress.position or not history:
        return None
    if progress.epoch >= run.config.training.epochs:
        return f"reached training.epochs = {run.config.training.epochs}"
    return _stop_reason(run.config.training.stop, run.config.training.rule, history,
                        progress.epoch - progress.best_epoch)


def _finish(run: Run, stop_reason: str) -> TrainResult:
    """Test the best checkpoint and write summary.json: the run is complete."""
    tc, progress = run.config.training, run.progress
    best_network = load_checkpoint(checkpoint_path(run.run_dir, "best.npz"))[0]
    test = make_dataset(*run.test_pixels, tc.dtype, "test", run.meta["preprocessing"])
    test_loss, test_accuracy = loss_and_accuracy(best_network, test, tc.loss, tc.rule)
    _stop_if_signalled(run.received, run.run_dir, "the final test pass, before summary.json")
    status = "finished" if progress.epoch >= tc.epochs else "stopped"
    _write_summary(run, status, {"stop_reason": stop_reason, "test_loss": test_loss,
                                 "test_accuracy": test_accuracy})
    return TrainResult(run.run_dir, len(run.history), stop_reason, progress.best_epoch,
                       run.history, {"loss": test_loss, "accuracy": test_accuracy},
                       averaged=tc.average > 0)


def _write_summary(run: Run, status: str, extra: dict) -> None:
    """summary.json: how the last process that trained the run ended (see rundir.STATUSES)."""
    progress = run.progress
    summary = {
        "run_dir": str(run.run_dir),
        "status": status,
        "engine": engine_name(run.config.training.engine),
        "epochs": len(run.history),
        "best_epoch": progress.best_epoch,
        "best_val_accuracy": (progress.best_val_accuracy if run.splits.validation is not None
                              else None),
        **extra,
        "train_seconds": sum(r["seconds"] for r in run.history),
        "last": run.history[-1] if run.history else {},
    }
    atomic_write_text(run.run_dir / "summary.json",
                      json.dumps(finite_json(summary), indent=2, allow_nan=False) + "\n")


def _already_complete(run: Run, stop_reason: str, summary: dict) -> TrainResult:
    """A resume of a complete run: nothing is trained or written."""
    try:
        test = {"loss": summary["test_loss"], "accuracy": float(summary["test_accuracy"])}
    except (KeyError, TypeError, ValueError):
        return _finish(run, stop_reason)  # a damaged summary is written again
    return TrainResult(run.run_dir, len(run.history), stop_reason, run.progress.best_epoch,
                       run.history, test, already_complete=True,
                       averaged=run.config.training.average > 0)


def _validation_metrics(network: Network, splits: Splits, config: Config) -> dict:
    if splits.validation is None:
        return {}
    loss, accuracy = loss_and_accuracy(network, splits.validation, config.training.loss,
                                       config.training.rule)
    return {"val_loss": loss, "val_accuracy": accuracy}


def _stop_reason(stop, rule: str, history: list[dict], epochs_since_best: int) -> str | None:
    """The lecture's stop conditions, checked after each epoch (None: go on)."""
    last = history[-1]
    # The perceptron's loop runs "while more classification errors": its own test of a mistake
    # is a unit with y_k z_k <= 0, which it updates even when the argmax is right; it stops at an
    # epoch without any update. The other rules stop at an epoch without an argmax mistake.
    if stop.no_mistakes and last["train_mistakes"] == 0 and (
            rule != "perceptron" or last.get("updates", 0) == 0):
        return f"no training mistakes in epoch {last['epoch']}"
    if stop.tolerance is not None and len(history) >= 2:
        before = history[-2]["train_loss"]
        change = abs(last["train_loss"] - before) / max(abs(before), np.finfo(float).tiny)
        if change < stop.tolerance:
            return f"J converged: relative change {change:.2e} < {stop.tolerance}"
    if stop.patience is not None and epochs_since_best >= stop.patience:
        return f"no better validation accuracy for {stop.patience} epochs"
    return None


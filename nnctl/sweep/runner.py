"""Running a sweep on Ray: embedded on this machine, or on an existing cluster (`address`).

Each trial is a Ray task (`trial.run_trial`, one CPU) that trains into its own run directory.
Ray retries a task whose worker process died (SIGKILL, out of memory, a lost node) up to
MAX_RETRIES times, and the retry resumes from the trial's last checkpoint. With early stopping,
a trial runs as one task per stage, up to each rung of asynchronous successive halving, and Ray
Tune's ASHAScheduler decides at each rung, from the metric of the epoch reached, whether it goes
on. SIGINT / SIGTERM stop the sweep: running trials are cancelled (Ray raises the interrupt in
their worker, where training saves a checkpoint at the next chunk of examples) and
`--resume DIR` continues from there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from nnctl.errors import SIGNAL_EXIT, ConfigError, Interrupted, NnctlError, RunDirError, one_line
from nnctl.sweep import state
from nnctl.sweep.data import share_data_files
from nnctl.sweep.results import PointResult, plot_results, point_results, write_results
from nnctl.sweep.spec import METRICS, Sweep, Trial, check_trials
from nnctl.sweep.trial import run_trial
from nnctl.tasks.train import deferred_signals
from nnctl.terminal import plural

MAX_RETRIES = 3  # times Ray runs a trial again after its worker process died
STOP_SECONDS = 60  # how long a stopped sweep waits for its trials to save their checkpoints
CONNECT_SECONDS = 5  # to reach a cluster's address before Ray is asked to connect
CONNECT_DEADLINE = 120  # for Ray to connect to it
INSTALL = "pip install -e '.[sweep]' (Ray 2.60 with Tune)"


def import_ray(address: str | None = None):
    """Ray, or a one-line error saying how to install it. Ray reads its settings from the
    environment when it is imported: no usage reports sent online, no crash handler of its own
    for SIGTERM in this process (nnctl's stops the sweep cleanly), and an embedded Ray, or a
    cluster on a loopback address, keeps this process's node on loopback. Without that, Ray
    swaps 127.0.0.1 for the machine's other address, and an embedded Ray's servers listen on
    every interface: anyone on the network could run code in them."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")  # SIGTERM stays nnctl's
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:  # embedded: its node is this machine's loopback, whatever the environment
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    elif address.rpartition(":")[0] in ("127.0.0.1", "localhost", "[::1]"):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise NnctlError(f"nnctl sweep needs Ray, an optional extra: {INSTALL}") from None
    return ray


@dataclass
class SweepResult:
    directory: Path
    sweep: Sweep
    results: list[PointResult]
    files: list[Path]


def run_sweep(sweep: Sweep | None, out: Path | None, *, resume: Path | None = None,
              workers: int | None = None, address: str | None = None,
              echo: Callable[[str], None] = print, show_progress: bool = False) -> SweepResult:
    """Run (or, with `resume`, continue) a sweep and write its results; trials already done are
    not run again. SIGINT / SIGTERM end it with `Interrupted` once running trials have saved
    their checkpoints."""
    with deferred_signals() as received:
        if resume is not None:  # checked as a sweep file is, before Ray is imported
            sweep, token = _stored(sweep, resume)
        ray = import_ray(address)  # a second or two
        if received:
            raise Interrupted(f"{signal.Signals(received[0]).name}: stopped while starting; "
                              "nothing was written", received[0])
        if resume is None:
            state.check_new_sweep_dir(out)  # nothing is written before Ray is up
            token = state.new_token()
        unfinished = resume is None or not ({t.id for t in sweep.trials} <= {
            r["trial"] for r in state.read_outcomes(resume) if "outcome" in r})
        with (connect(ray, workers, address, received) if unfinished
              else contextlib.nullcontext(("", 0))) as (engine, slots):
            directory = resume or state.new_sweep_dir(out, Path(sweep.source).stem)
            with state.lock_sweep(directory, token):
                if resume is None:  # a sweep started at the same moment may have taken it
                    state.check_new_sweep_dir(directory, marker=directory / state.SWEEP_MARKER)
                    state.write_sweep(directory, sweep, token)
                runner = Runner(directory, sweep, token, received)
                if runner.todo:
                    _stop_if_signalled(received, directory, runner)
                    echo(f"{_plan(sweep, runner)} on {engine}; directory {directory}")
                    check_nodes(ray, directory, token)
                    runner.run(ray, slots, show_progress)
                # under the lock: a --resume started now must not write them at the same time
                results = point_results(sweep, runner.outcomes)
                files = write_results(directory, sweep, results)
                figures = plot_results(directory, sweep, results)
    if received:  # came while the results were written: they are, and the status says it
        raise Interrupted(f"{signal.Signals(received[0]).name}: received as the sweep ended; its "
                          f"results are in {directory}", received[0])
    return SweepResult(directory, sweep, results, files + figures)


def _stored(sweep: Sweep | None, resume: Path) -> tuple[Sweep, str]:
    """The sweep in `resume` and its token; a sweep file given with --resume must expand to
    the same trials."""
    stored, token = state.read_sweep(resume)
    if sweep is not None and {**sweep.as_dict(), "source": ""} != {**stored.as_dict(),
                                                                   "source": ""}:
        raise ConfigError(f"{sweep.source}: differs from the sweep in {resume} (expanded from "
                          f"{stored.source}); resume continues the same sweep")
    check_trials(stored)
    return stored, token


def _plan(sweep: Sweep, runner: Runner) -> str:
    done = len(sweep.trials) - len(runner.todo)
    early = (f", ASHA early stopping (rungs at epochs {', '.join(map(str, runner.rungs))})"
             if sweep.early_stop else "")
    return (f"sweep: {plural(sweep.points, 'point')} x {plural(len(sweep.seeds), 'seed')} = "
            f"{plural(len(sweep.trials), 'trial')}" + (f" ({done} done)" if done else "") + early)


# --------------------------------------------------------------------------- Ray


@contextlib.contextmanager
def connect(ray, workers: int | None, address: str | None,
            received: list[int]) -> Iterator[tuple[str, int]]:
    """Ray for the block: embedded here with `workers` CPUs (default: this machine's cores), or
    the cluster at `address` (else $RAY_ADDRESS); yields its description and how many trials
    may run at once. SIGINT / SIGTERM meanwhile are added to `received`."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None:
        slots = workers or len(os.sched_getaffinity(0))
        with _signals_while_starting(ray, received):
            ray.init(address="local", num_cpus=slots, _node_ip_address="127.0.0.1",
                     include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        engine = f"embedded Ray {ray.__version__}, {slots} workers"
    else:
        _reach(address)
        try:  # Ray's core prints its retries to stderr while it connects
            with _quiet_stderr(), _deadline(address), _signals_while_starting(ray, received):
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise NnctlError(
                f"--address {address}: cannot connect to the Ray cluster: {one_line(e)}; a "
                "cluster started by `ray start` uses token authentication: set "
                "RAY_AUTH_MODE=token (the token is in ~/.ray/auth_token) or RAY_AUTH_TOKEN"
            ) from None
        engine, slots = ("", 1) if received else _cluster(ray, address, workers)
    try:
        yield engine, slots
    finally:
        ray.shutdown()


def _cluster(ray, address: str, workers: int | None) -> tuple[str, int]:
    """The cluster's description, and how many trials may run at once (default: its CPUs)."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    slots = workers or max(cpus, 1)
    nodes = sum(node["Alive"] for node in ray.nodes())
    return (f"the Ray {ray.__version__} cluster at {address} ({nodes} nodes, {cpus} CPUs), "
            f"{slots} trials at once"), slots


def _reach(address: str) -> None:
    """A TCP connection to HOST:PORT within CONNECT_SECONDS (Ray itself would retry for
    minutes); a loopback address keeps Ray's node on loopback."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        raise ConfigError(f"--address {address}: expected HOST:PORT of a Ray cluster's head, "
                          "e.g. 127.0.0.1:6379")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as e:
        raise NnctlError(f"--address {address}: no Ray cluster answers there "
                         f"({one_line(e)})") from None


@contextlib.contextmanager
def _deadline(address: str) -> Iterator[None]:
    """Ray's connect blocks in its core, beyond the reach of signals, and retries for minutes
    when it cannot find its node: past CONNECT_DEADLINE seconds the process ends with one line."""
    def give_up() -> None:
        os.write(saved_stderr, f"Error: --address {address}: no answer from the Ray cluster "
                               f"within {CONNECT_DEADLINE} s (is this machine one of its "
                               "nodes?)\n".encode())
        os._exit(1)

    saved_stderr = os.dup(2)
    timer = threading.Timer(CONNECT_DEADLINE, give_up)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        os.close(saved_stderr)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for the block (Ray's C++ core writes there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_nodes(ray, directory: Path, token: str) -> None:
    """Every live node sees the sweep directory (the same marker at the same path), or a
    one-line error before any trial starts."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0, max_retries=0)(state.shared_problem)
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node["NodeID"], soft=False)).remote(os.path.abspath(directory), token)
        for node in ray.nodes() if node["Alive"]]
    try:
        problems = [p for p in ray.get(refs, timeout=120) if p]
    except ray.exceptions.RayError as e:
        raise RunDirError(f"{directory}: could not check that every Ray node sees it: "
                          f"{_ray_reason(e)}") from None
    if problems:
        raise RunDirError(f"{problems[0]} ({len(problems)} of {len(refs)} nodes)")


# --------------------------------------------------------------------------- the trials


def stages(epochs: int, early_stop: dict | None) -> list[int]:
    """The epochs a trial trains to, one task each: ASHA's rungs below `epochs` (min_epochs x
    reduction_factor^k, as ASHAScheduler places them), then `epochs`."""
    if not early_stop:
        return [epochs]
    rung, rungs = early_stop["min_epochs"], []
    while rung < epochs:
        rungs.append(rung)
        rung *= early_stop["reduction_factor"]
    return [*rungs, epochs]


class Runner:
    """The trials of one sweep run: what is left, what is running, what came of each."""

    def __init__(self, directory: Path, sweep: Sweep, token: str, received: list[int]):
        self.directory, self.sweep, self.token, self.received = directory, sweep, token, received
        self.epochs = {t.id: sweep.config(t).training.epochs for t in sweep.trials}
        self.outcomes: dict[str, dict] = {}
        self.passed: dict[str, int] = {}  # rungs each trial has passed
        self.resumed: dict[str, int] = {}  # the epoch a trial resumed from, in this run
        self.scheduler = _scheduler(sweep, max(self.epochs.values())) if sweep.early_stop else None
        self.rungs = stages(max(self.epochs.values()), sweep.early_stop)[:-1]
        self._replay(state.read_outcomes(directory))
        self.todo = deque(t for t in sweep.trials if t.id not in self.outcomes)
        self.running: dict = {}  # Ray object ref -> (trial, epochs of its stage)
        self.data: dict[str, list] = {}  # trial id -> object refs of its data files, read once
        self.bar = None

    def _replay(self, records: list[dict]) -> None:
        """The outcomes and rung reports of earlier runs of the sweep, in their order (so that
        ASHA's rungs hold what they held)."""
        for record in records:
            if record["trial"] not in self.epochs:
                continue  # not a trial of this sweep
            if "outcome" in record:
                self.outcomes[record["trial"]] = record["outcome"]
            else:
                self.passed[record["trial"]] = self.passed.get(record["trial"], 0) + 1
                self._decide(record["trial"], record["rung"], record["value"])

    def run(self, ray, slots: int, show_progress: bool) -> None:
        from tqdm import tqdm

        task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(run_trial)
        self.data = share_data_files(ray.put, self.sweep, self.todo)
        total = len(self.sweep.trials)
        self.bar = tqdm(total=total, initial=total - len(self.todo), unit="trial",
                        file=sys.stderr, disable=not show_progress, dynamic_ncols=True,
                        bar_format="{n_fmt}/{total_fmt} trials |{bar}| {elapsed} elapsed, "
                                   "~{remaining} left")
        with self.bar:
            while self.todo or self.running:
                while self.todo and len(self.running) < slots:
                    self._submit(task, self.todo.popleft())
                ready, _ = ray.wait(list(self.running), num_returns=1, timeout=0.25)
                for ref in ready:
                    self._collect(ray, ref, task)
                if self.received:
                    self._stop(ray, task)

    def _submit(self, task, trial: Trial) -> None:
        target = stages(self.epochs[trial.id], self.sweep.early_stop)[self.passed.get(trial.id, 0)]
        raw = trial.raw_config(self.sweep.base)
        where = os.path.abspath(self.directory)  # the same path on every node
        ref = task.remote(raw, self.sweep.point_name(trial.point),
                          str(state.trial_dir(Path(where), trial.id)), target, where, self.token,
                          *self.data.get(trial.id, ()))
        self.running[ref] = (trial, target)

    def _stage_start(self, trial: Trial) -> int | None:
        """The epoch the trial's current stage starts from (None: the first stage)."""
        passed = self.passed.get(trial.id, 0)
        return stages(self.epochs[trial.id], self.sweep.early_stop)[passed - 1] if passed else None

    def _collect(self, ray, ref, task) -> None:
        """A finished task: the trial's next stage, or its outcome."""
        trial, target = self.running.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            return
        except ray.exceptions.RayError as e:  # the worker died MAX_RETRIES + 1 times, or a bug
            outcome = {"status": "failed", "message": _ray_reason(e), "epochs": 0}
        if outcome["status"] == "interrupted":
            return  # stopped by the sweep's own signal: resumed later
        if outcome.get("resumed_from") not in (None, self._stage_start(trial)):
            self.resumed[trial.id] = outcome["resumed_from"]  # not where its stage began
        outcome["resumed_from"] = self.resumed.get(trial.id)
        if outcome["status"] == "finished" and target < self.epochs[trial.id]:
            value = (outcome.get("last") or {}).get(self.sweep.metric)
            state.append_outcome(self.directory, {"trial": trial.id, "rung": target,
                                                  "value": value})
            self.passed[trial.id] = self.passed.get(trial.id, 0) + 1
            if not self._decide(trial.id, target, value):
                self._submit(task, trial)
                return
            outcome["status"] = "early-stopped"
        self._finish(trial, outcome)

    def _decide(self, trial_id: str, epoch: int, value: float | None) -> bool:
        """ASHA's decision at a rung: True to stop the trial there."""
        if value is None:
            return False
        result = {"epoch": epoch, self.sweep.metric: value}
        return self.scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id),
                                              result) == "STOP"

    def _finish(self, trial: Trial, outcome: dict) -> None:
        self.outcomes[trial.id] = outcome
        state.append_outcome(self.directory, {"trial": trial.id, "outcome": outcome})
        self.bar.update(1)
        self.bar.write(trial_line(trial, outcome, self.sweep), file=sys.stderr)

    def _stop(self, ray, task) -> None:
        """SIGINT / SIGTERM: cancel the running trials (they save a checkpoint), keep what
        finished meanwhile, and end with the resume command."""
        for ref in self.running:
            ray.cancel(ref)
        deadline = time.monotonic() + STOP_SECONDS
        while self.running and time.monotonic() < deadline and len(self.received) < 2:
            ready, _ = ray.wait(list(self.running), num_returns=1, timeout=0.25)
            for ref in ready:
                self._collect(ray, ref, task)
        for ref in self.running:  # anything submitted by _collect meanwhile
            ray.cancel(ref)
        _stop_if_signalled(self.received, self.directory, self)

    @property
    def done(self) -> int:
        return len(self.outcomes)


def _scheduler(sweep: Sweep, epochs: int):
    """Ray Tune's ASHAScheduler, asked for decisions directly: each trial's metric at each
    epoch it reaches a rung (the grace period and the reduction factor of early_stop)."""
    try:
        from ray.tune.schedulers import ASHAScheduler
    except ImportError:
        raise NnctlError(f"early_stop needs Ray Tune: {INSTALL}") from None
    scheduler = ASHAScheduler(time_attr="epoch", metric=sweep.metric, mode=METRICS[sweep.metric],
                              max_t=max(epochs, sweep.early_stop["min_epochs"]),
                              grace_period=sweep.early_stop["min_epochs"],
                              reduction_factor=sweep.early_stop["reduction_factor"])
    for trial in sweep.trials:
        scheduler.on_trial_add(None, SimpleNamespace(trial_id=trial.id))
    return scheduler


@contextlib.contextmanager
def _signals_while_starting(ray, received: list[int]) -> Iterator[None]:
    """For ray.init, which sets a SIGTERM handler of its own (sys.exit) while it starts: a
    SystemExit in the middle of its start can leave the process hanging, so Ray's setter is
    made a no-op for the call and the sweep's handlers stay (they are set again after, in case
    Ray's core changed them); a signal then is recorded like any other."""
    utils = ray._private.utils
    setter = utils.set_sigterm_handler
    utils.set_sigterm_handler = lambda handler: None
    try:
        yield
    finally:
        utils.set_sigterm_handler = setter
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNAL_EXIT:
                signal.signal(signum, lambda number, frame: received.append(number))


def _stop_if_signalled(received: list[int], directory: Path, runner: Runner) -> None:
    if received:
        name = signal.Signals(received[0]).name
        raise Interrupted(f"{name}: sweep stopped with {runner.done} of "
                          f"{len(runner.sweep.trials)} trials done (running trials saved their "
                          f"checkpoints); resume with: nnctl sweep --resume {directory}",
                          received[0])


def _ray_reason(error: Exception) -> str:
    """A Ray error in one line: its first line (the worker's traceback is left out)."""
    text = str(error).strip().splitlines()
    return one_line(text[0] if text else type(error).__name__)[:300]


def trial_line(trial: Trial, outcome: dict, sweep: Sweep) -> str:
    """One line per finished trial: `p003-s1  lr=0.05  finished  val 97.12% (3 epochs)  4.1 s`."""
    from nnctl.sweep.spec import point_label

    status = outcome["status"]
    value = outcome.get(sweep.metric)
    figure = ("" if value is None else f"  {sweep.metric} "
              + (f"{value:.2%}" if sweep.metric == "val_accuracy" else f"{value:.4f}"))
    resumed = (f", resumed from epoch {outcome['resumed_from']}"
               if outcome.get("resumed_from") is not None else "")
    what = f"{status} ({outcome.get('epochs', 0)} epochs{resumed})"
    if status in ("diverged", "failed"):  # the reason's first clause
        reason = (outcome.get("message") or "").split(";")[0].removeprefix("training diverged: ")
        what += f": {reason[:120]}"
    label = point_label(trial.values)
    return (f"{trial.id}  {label + '  ' if label else ''}{what}{figure}  "
            f"{outcome.get('seconds') or 0:.1f} s")


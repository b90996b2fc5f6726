#!/usr/bin/env python3
"""Speed of per-example SGD on the full MNIST training set: nnctl's engines beside PyTorch and scikit-learn.

Every tool trains the same networks (sigmoid hidden units, softmax + cross-entropy, float32, plain
SGD, learning rate 0.1, batch size 1) on the same 60,000 bundled MNIST training examples, in the
same shuffled order, in the same run. For each network and tool it reports the MEDIAN over
--repeats timed runs of the seconds per full epoch and the examples per second, and how much
faster the "fused" engine is.

The "fused" engine always runs full epochs. The other tools (the "reference" engine, PyTorch,
scikit-learn) are much slower, so by default each timed run covers only the first --peer-examples
examples of the epoch and is extrapolated linearly to the epoch (the output says so). Every tool
is warmed up on a small chunk first, so numba's compilation and PyTorch's first-call setup are not
timed. The repeats of the tools are interleaved (repeat 1 of every tool, then repeat 2, ...) so
that a change in the machine's load hits all of them alike.

    .venv/bin/python benchmarks/bench.py                                  # everything available
    .venv/bin/python benchmarks/bench.py --tools reference --networks 784-100-10 --repeats 1 --peer-examples 2000
    .venv/bin/python benchmarks/bench.py --no-speed --memory --end-to-end --e2e-epochs 3
    .venv/bin/python benchmarks/bench.py --out docs/benchmarks.md

--memory runs `nnctl train configs/mlp-300.yaml` for one epoch in a child process and reports its
peak resident memory and wall time; --end-to-end times `nnctl train` of 784-300-10 for --e2e-epochs
epochs and reports the test accuracy it prints. Both use the "fused" engine, or "reference" while
"fused" is not registered. Progress goes to stderr, the Markdown report to stdout (and --out FILE).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/bench.py` works from a checkout too

from nnctl.config import DataConfig
from nnctl.data import data_paths, make_dataset, read_examples
from nnctl.engine import CHUNK_SIZES, ENGINES, make_engine
from nnctl.network import Network, init_network
from nnctl.rules import one_hot

DEFAULT_NETWORKS = ("784-100-10", "784-300-10", "784-800-10", "784-500-150-10")
DEFAULT_TOOLS = ("fused", "reference", "torch", "sklearn")
BASELINE = "fused"  # always timed on full epochs; the ratio column compares every tool with it
PEERS = {"torch": "torch", "sklearn": "sklearn"}  # tool name -> module that must be importable
INSTALL_HINT = {"torch": "pip install torch==2.13.0", "sklearn": "pip install scikit-learn"}
LEARNING_RATE = 0.1
DTYPE = "float32"
ACTIVATION, OUTPUT, LOSS, RULE = "sigmoid", "softmax", "cross_entropy", "backprop"
WARMUP_EXAMPLES = 200  # run once before timing: numba compiles here, torch sets up autograd
SEED = 0
TORCH_THREADS: int | None = None  # --torch-threads; None leaves torch.get_num_threads() at its default
E2E_CONFIG = "configs/mlp-300.yaml"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# data and networks


def load_mnist_train() -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST training file, all of it (validation 0): x = pixel/255 float32, labels."""
    paths = data_paths(DataConfig(validation=0))
    images, labels = read_examples(paths["train_images"], paths["train_labels"])
    dataset = make_dataset(images, labels, DTYPE, "train")
    return dataset.x, dataset.labels


def parse_network(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split("-")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a network is layer sizes joined by '-', e.g. 784-300-10")
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need at least an input and an output size, all > 0")
    return sizes


def split_list(values: list[str]) -> list[str]:
    """`--tools a b`, `--tools a,b` and `--tools a, b` all mean [a, b]."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


# ---------------------------------------------------------------------------------------------
# one runner per tool: warmup(), run(indices) -> seconds, train_accuracy()


class NnctlRunner:
    """An nnctl engine called as train.py calls it: run_chunk over chunks of CHUNK_SIZES[engine]."""

    def __init__(self, engine: str, network: Network, x, targets, labels):
        self.name = engine
        self.chunk = CHUNK_SIZES[engine]
        self.network, self.x, self.labels = network, x, labels
        self.run_chunk = make_engine(engine, network, x, targets, labels, RULE, LOSS)

    def warmup(self, indices: np.ndarray) -> None:
        self.run_chunk(indices, LEARNING_RATE)

    def run(self, indices: np.ndarray) -> float:
        run_chunk, eta, chunk = self.run_chunk, LEARNING_RATE, self.chunk
        start = time.perf_counter()
        for i in range(0, len(indices), chunk):
            run_chunk(indices[i : i + chunk], eta)
        return time.perf_counter() - start

    def train_accuracy(self) -> float:
        right = 0
        for i in range(0, len(self.x), 10_000):  # batched forward of the engine's (in-place) weights
            right += int((self.network.forward(self.x[i : i + 10_000]).argmax(1) == self.labels[i : i + 10_000]).sum())
        return right / len(self.x)


class TorchRunner:
    """The same network in PyTorch (nn.Linear + sigmoid, CrossEntropyLoss, SGD), one example a step."""

    name = "torch"

    def __init__(self, network: Network, x, labels):
        import torch

        self.torch = torch
        if TORCH_THREADS is not None:
            torch.set_num_threads(TORCH_THREADS)
        layers = []
        for l, (W, b) in enumerate(zip(network.weights, network.biases), start=1):
            linear = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():  # start from nnctl's initial weights (W^[l] is out x in, as in torch)
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if l < len(network.weights):
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers)  # logits; CrossEntropyLoss applies log-softmax
        self.criterion = torch.nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE)
        self.x = torch.from_numpy(x)
        self.y = torch.from_numpy(labels.astype(np.int64))
        self.labels = labels

    def warmup(self, indices: np.ndarray) -> None:
        self.run(indices)

    def run(self, indices: np.ndarray) -> float:
        index = self.torch.from_numpy(indices)
        x, y, labels = self.x[index], self.y[index], self.labels[indices]  # gathered before the clock
        model, criterion, optimizer = self.model, self.criterion, self.optimizer
        model.train()
        total, mistakes = 0.0, 0  # computed like the nnctl engines' (loss_sum, mistakes)
        start = time.perf_counter()
        for i in range(len(indices)):
            optimizer.zero_grad(set_to_none=True)
            logits = model(x[i : i + 1])
            loss = criterion(logits, y[i : i + 1])
            loss.backward()
            optimizer.step()
            total += loss.item()
            mistakes += int(logits.argmax().item() != labels[i])
        return time.perf_counter() - start

    def train_accuracy(self) -> float:
        with self.torch.no_grad():
            predicted = self.model(self.x).argmax(1)
        return float((predicted == self.y).float().mean())


class SklearnRunner:
    """scikit-learn's MLPClassifier, batch size 1, plain SGD; one partial_fit call is one pass."""

    name = "sklearn"

    def __init__(self, sizes: list[int], x, labels):
        from sklearn.neural_network import MLPClassifier

        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="sgd",
            batch_size=1, learning_rate="constant", learning_rate_init=LEARNING_RATE,
            momentum=0.0, nesterovs_momentum=False, alpha=0.0, max_iter=1,
            shuffle=False,  # the examples come already in the benchmark's shuffled order
            random_state=SEED,
        )
        self.x, self.labels = x, labels
        self.classes = np.arange(sizes[-1])

    def _fit(self, x, labels) -> None:
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.partial_fit(x, labels, classes=self.classes)

    def warmup(self, indices: np.ndarray) -> None:
        self._fit(self.x[indices], self.labels[indices])  # also draws sklearn's own initial weights

    def run(self, indices: np.ndarray) -> float:
        x, labels = self.x[indices], self.labels[indices]  # gathered before the clock
        start = time.perf_counter()
        self._fit(x, labels)
        return time.perf_counter() - start

    def train_accuracy(self) -> float:
        return float(self.model.score(self.x, self.labels))


def make_runner(tool: str, sizes: list[int], network: Network, x, targets, labels):
    if tool == "torch":
        return TorchRunner(network, x, labels)
    if tool == "sklearn":
        return SklearnRunner(sizes, x, labels)
    return NnctlRunner(tool, network, x, targets, labels)


def available_tools(tools: list[str]) -> tuple[list[str], list[str]]:
    """The tools that can run here, and a note for each one skipped."""
    runnable, notes = [], []
    for tool in tools:
        if tool in PEERS:
            if importlib.util.find_spec(PEERS[tool]) is None:
                notes.append(f"{tool}: skipped, not installed (`{INSTALL_HINT[tool]}`, "
                             "or `pip install -e '.[bench]'`)")
                continue
        elif tool not in ENGINES:
            notes.append(f"{tool}: skipped, not registered in nnctl.engine.ENGINES "
                         f"(registered: {', '.join(ENGINES)})")
            continue
        runnable.append(tool)
    return runnable, notes


# ---------------------------------------------------------------------------------------------
# the speed table


def measure_speed(networks: list[str], tools: list[str], repeats: int, peer_examples: int,
                  x: np.ndarray, labels: np.ndarray) -> tuple[list[dict], list[str]]:
    n = len(labels)
    classes = int(labels.max()) + 1
    targets = one_hot(labels, classes, DTYPE)
    order = np.random.default_rng(SEED).permutation(n)  # one shuffled epoch, the same for every tool
    warmup = order[:WARMUP_EXAMPLES]
    rows, notes = [], []
    for name in networks:
        sizes = parse_network(name)
        if sizes[0] != x.shape[1] or sizes[-1] != classes:
            notes.append(f"{name}: skipped, the data has {x.shape[1]} inputs and {classes} classes")
            continue
        initial = init_network(sizes, ACTIVATION, OUTPUT, "lecun", 1.0, np.random.default_rng(SEED), DTYPE)
        runners = []
        for tool in tools:
            start = time.perf_counter()
            try:  # a tool that cannot even start (say an engine still being written) is skipped
                runner = make_runner(tool, sizes, initial.copy(), x, targets, labels)
                runner.warmup(warmup)
            except Exception as e:  # noqa: BLE001
                traceback.print_exc()
                notes.append(f"{tool} on {name}: skipped, failed during setup or warm-up: "
                             f"{type(e).__name__}: {e}")
                continue
            log(f"{name} {tool}: warm-up on {len(warmup)} examples {time.perf_counter() - start:.2f} s (not timed)")
            timed = n if tool == BASELINE else min(peer_examples, n)
            runners.append((runner, timed, []))
        for repeat in range(1, repeats + 1):
            for runner, timed, per_epoch in runners:
                seconds = runner.run(order[:timed])
                per_epoch.append(seconds * n / timed)
                log(f"{name} {runner.name} run {repeat}/{repeats}: {timed:,} examples in {seconds:.2f} s "
                    f"-> {per_epoch[-1]:.2f} s/epoch")
        for runner, timed, per_epoch in runners:
            rows.append({
                "network": name, "tool": runner.name, "timed_examples": timed, "epoch_examples": n,
                "runs": per_epoch, "median": statistics.median(per_epoch),
                "train_accuracy": runner.train_accuracy(),
            })
    return rows, notes


def ratio_text(row: dict, baseline: dict | None) -> str:
    if row["tool"] == BASELINE:
        return "baseline"
    if baseline is None:
        return "-"
    ratio = row["median"] / baseline["median"]
    return f"{BASELINE} is {ratio:.1f}x faster" if ratio >= 1 else f"{BASELINE} is {1 / ratio:.1f}x slower"


def speed_table(rows: list[dict]) -> list[str]:
    lines = [
        (f"| network | tool | s / epoch (median) | examples/s | vs {BASELINE} | timed per run | "
        "s / epoch (min-max) | train acc. after |"),
        "|---|---|---:|---:|---|---|---:|---:|",
    ]
    for row in rows:
        baseline = next((r for r in rows if r["network"] == row["network"] and r["tool"] == BASELINE), None)
        n, timed = row["epoch_examples"], row["timed_examples"]
        measured = f"full epoch ({n:,})" if timed == n else f"{timed:,} of {n:,}, extrapolated"
        lines.append(
            f"| {row['network']} | {row['tool']} | {row['median']:.2f} | {n / row['median']:,.0f} | "
            f"{ratio_text(row, baseline)} | {measured} | {min(row['runs']):.2f}-{max(row['runs']):.2f} | "
            f"{row['train_accuracy']:.2%} |"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# where the fused engine's time goes; the targets


def phases_section(networks: list[str], x: np.ndarray, labels: np.ndarray, rows: list[dict]) -> list[str]:
    """Time layer 1's sparse forward + update alone (the engine's own loops) against the full epoch."""
    from numba import njit

    from nnctl.engine import fused

    @njit
    def layer1_only(order, indptr, cols, vals, W, z, step):
        zero = z[0] - z[0]
        for n in order:
            fused._sparse_matvec(W, cols, vals, indptr[n], indptr[n + 1], zero, z)
            fused._sparse_update(W, cols, vals, indptr[n], indptr[n + 1], step)
        return z[0]

    indptr, cols, vals = fused.to_sparse_rows(x)
    order = np.random.default_rng(SEED).permutation(len(labels))
    lines = ["## Where the fused engine's time goes", "",
             (f"Layer 1's sparse passes timed alone (the engine's own `_sparse_matvec` + `_sparse_update` "
             f"over the same {len(labels):,} examples, {statistics.mean(np.diff(indptr)):.0f} non-zero "
             "pixels each on average), against the full epoch above; the rest is the dense layers, the "
             "activations, the softmax, the loss and the bookkeeping."), "",
             "| network | full epoch (median) | layer 1 forward + update | share | everything else |",
             "|---|---:|---:|---:|---:|"]
    for name in networks:
        full = next((r["median"] for r in rows if r["network"] == name and r["tool"] == BASELINE), None)
        if full is None:
            continue
        width = -(-parse_network(name)[1] // fused.PAD) * fused.PAD
        rng = np.random.default_rng(SEED)  # weights and steps of a realistic size
        W = rng.normal(0.0, 0.05, (x.shape[1], width)).astype(DTYPE)
        z, step = np.zeros(width, dtype=DTYPE), rng.normal(0.0, 1e-4, width).astype(DTYPE)
        layer1_only(order[:10], indptr, cols, vals, W, z, step)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            layer1_only(order, indptr, cols, vals, W, z, step)
            times.append(time.perf_counter() - start)
        part = statistics.median(times)
        lines.append(f"| {name} | {full:.2f} s | {part:.2f} s | {part / full:.0%} | {full - part:.2f} s |")
    return lines


# From the issue that asked for the fused engine: (network, seconds per epoch at most)
SPEED_TARGETS = [("784-300-10", 0.6), ("784-800-10", 1.5), ("784-100-10", 0.25)]
TORCH_RATIO_TARGET = ("784-300-10", 30.0)
E2E_TARGET = (0.98, 15.0)
MEMORY_TARGET_MB = 500


def targets_section(rows: list[dict], memory: dict | None, e2e: dict | None) -> list[str]:
    def median(network: str, tool: str) -> float | None:
        return next((r["median"] for r in rows if r["network"] == network and r["tool"] == tool), None)

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**missed**")

    lines = ["## Targets", "", "| target | measured | |", "|---|---:|---|"]
    for network, limit in SPEED_TARGETS:
        value = median(network, BASELINE)
        lines.append(f"| {network}, fused, float32: <= {limit} s per 60,000-example epoch | "
                     f"{'-' if value is None else f'{value:.2f} s'} | {verdict(None if value is None else value <= limit)} |")
    network, ratio = TORCH_RATIO_TARGET
    fused_s, torch_s = median(network, BASELINE), median(network, "torch")
    measured = None if fused_s is None or torch_s is None else torch_s / fused_s
    lines.append(f"| {network}: >= {ratio:.0f}x faster than PyTorch at batch size 1, same run | "
                 f"{'-' if measured is None else f'{measured:.1f}x'} | {verdict(None if measured is None else measured >= ratio)} |")
    if e2e is not None:
        accuracy, wall = e2e.get("accuracy"), e2e["wall"]
        ok = accuracy is not None and accuracy >= E2E_TARGET[0] and wall <= E2E_TARGET[1]
        shown = f"{accuracy:.2%} in {wall:.1f} s" if accuracy is not None else f"exit {e2e['returncode']}"
        lines.append(f"| `nnctl train` 784-300-10: >= {E2E_TARGET[0]:.0%} test accuracy in <= "
                     f"{E2E_TARGET[1]:.0f} s wall (warm compile cache) | {shown} | {verdict(ok)} |")
    if memory is not None:
        mb = memory["maxrss_kib"] * 1024 / 1e6
        lines.append(f"| peak memory of `nnctl train` on full MNIST <= {MEMORY_TARGET_MB} MB | {mb:.0f} MB | "
                     f"{verdict(mb <= MEMORY_TARGET_MB)} |")
    return lines


# ---------------------------------------------------------------------------------------------
# `nnctl train` in a child process: peak memory, end-to-end time


# The child reports its own peak: the kernel's ru_maxrss of a child also counts the memory of the
# parent it was forked from (the old image's high-water mark is carried over at exec), which here is
# this benchmark, holding MNIST and PyTorch. /proc/self/status's VmHWM belongs to the new image only.
CHILD = (
    "import atexit, re, sys\n"
    "def report():\n"
    "    status = open('/proc/self/status').read()\n"
    "    sys.stderr.write('VMHWM_KIB=' + re.search(r'VmHWM:\\s+(\\d+)', status).group(1) + '\\n')\n"
    "atexit.register(report)\n"
    "from nnctl.cli import main\n"
    "sys.argv = ['nnctl', *sys.argv[1:]]\n"
    "main()\n"
)


def nnctl_command() -> list[str]:
    """`nnctl` run by this Python, reporting its own peak memory on stderr when it exits."""
    return [sys.executable, "-c", CHILD]


def cli_engine(chosen: str | None) -> tuple[str, str | None]:
    """The engine for `nnctl train`: --cli-engine, else fused, else reference (with a note)."""
    if chosen is not None:
        return chosen, None
    if BASELINE in ENGINES:
        return BASELINE, None
    return "reference", f"engine '{BASELINE}' is not registered yet: `nnctl train` ran the reference engine"


def run_nnctl_train(epochs: int, engine: str) -> dict:
    """`nnctl train configs/mlp-300.yaml` in a child: exit status, wall time, peak RSS, output."""
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        out_dir = Path(tmp) / "run"
        command = [*nnctl_command(), "train", E2E_CONFIG, "--out", str(out_dir), "--force", "--quiet",
                   "--set", f"training.engine={engine}", "--set", f"training.epochs={epochs}"]
        log("running: " + " ".join(command))
        with open(Path(tmp) / "stdout", "w+") as stdout, open(Path(tmp) / "stderr", "w+") as stderr:
            start = time.perf_counter()
            returncode = subprocess.run(command, cwd=ROOT, stdout=stdout, stderr=stderr, check=False).returncode
            wall = time.perf_counter() - start
            stdout.seek(0)
            stderr.seek(0)
            err = stderr.read()
            peak = re.search(r"VMHWM_KIB=(\d+)", err)
            result = {"command": command, "returncode": returncode, "wall": wall,
                      "maxrss_kib": int(peak.group(1)) if peak else 0,
                      "stdout": stdout.read(), "stderr": err}
        summary_path = out_dir / "summary.json"
        result["summary"] = json.loads(summary_path.read_text()) if summary_path.exists() else None
    if result["returncode"] != 0:
        log(f"nnctl train failed with exit status {result['returncode']}:\n{result['stderr']}")
    return result


def shown_command(command: list[str]) -> str:
    shown = ["nnctl", *command[3:]]  # what the child runs, without the reporting wrapper
    return " ".join("<tmpdir>" if part.startswith(tempfile.gettempdir()) else part for part in shown)


def memory_section(chosen_engine: str | None) -> tuple[list[str], dict]:
    engine, note = cli_engine(chosen_engine)
    result = run_nnctl_train(1, engine)
    lines = ["## Peak memory of `nnctl train`", "",
             (f"`{shown_command(result['command'])}` (from the repository root; 784-300-10, one epoch of "
             "55,000 examples, validation 5,000)"), ""]
    if note:
        lines += [f"Note: {note}.", ""]
    lines += ["| engine | exit status | peak RSS | wall time |", "|---|---:|---:|---:|",
              (f"| {engine} | {result['returncode']} | {result['maxrss_kib']:,} KiB "
              f"({result['maxrss_kib'] / 1024:.0f} MiB) | {result['wall']:.1f} s |"), "",
              ("Peak RSS is the child's own high-water mark, `VmHWM` in `/proc/self/status`, which it "
              "reports as it exits (`ru_maxrss` of a child would also count this benchmark's memory, "
              "inherited through fork and carried over at exec).")]
    return lines, result


def end_to_end_section(epochs: int, chosen_engine: str | None) -> tuple[list[str], dict]:
    engine, note = cli_engine(chosen_engine)
    result = run_nnctl_train(epochs, engine)
    match = re.search(r"test accuracy ([0-9.]+)%", result["stdout"])
    accuracy = f"{float(match.group(1)):.2f}%" if match else "not found in the output"
    stopped = re.search(r"stopped: (.*)", result["stdout"])
    summary = result["summary"] or {}
    lines = ["## End to end: `nnctl train` of 784-300-10", "",
             (f"`{shown_command(result['command'])}`: load the data, train (inverse schedule, patience 3, "
             "validation 5,000: 55,000 examples per epoch), checkpoint every epoch, test the best one."), ""]
    if note:
        lines += [f"Note: {note}.", ""]
    lines += [("| engine | epochs run | wall time | of which training | test accuracy (printed) | "
              "peak RSS | stopped |"), "|---|---:|---:|---:|---:|---:|---|",
              f"| {engine} | {summary.get('epochs', '?')} of {epochs} | {result['wall']:.1f} s | "
              f"{summary['train_seconds']:.1f} s | {accuracy} | {result['maxrss_kib'] / 1024:.0f} MiB | "
              f"{stopped.group(1).strip() if stopped else 'exit status ' + str(result['returncode'])} |"
              if summary else
              f"| {engine} | ? of {epochs} | {result['wall']:.1f} s | ? | {accuracy} | "
              f"{result['maxrss_kib'] / 1024:.0f} MiB | exit status {result['returncode']} |"]
    result["accuracy"] = float(match.group(1)) / 100 if match else None
    return lines, result


# ---------------------------------------------------------------------------------------------
# the header


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def thread_pools() -> str:
    """BLAS / OpenMP thread pools loaded in this process (threadpoolctl comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    pools = sorted({" ".join(filter(None, [p.get("internal_api"), p.get("version")]))
                    + f" ({p.get('num_threads')} threads)" for p in threadpool_info()})
    return ", ".join(pools) or "none loaded"


def header(started: str, load_before: tuple) -> list[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    numba = version("numba")
    if numba != "not installed" and "numba" in sys.modules:
        numba += f" ({sys.modules['numba'].get_num_threads()} threads)"
    torch = version("torch")
    if "torch" in sys.modules:
        how = "left at its default" if TORCH_THREADS is None else "set by --torch-threads"
        torch += f" (torch.get_num_threads() = {sys.modules['torch'].get_num_threads()}, {how})"
    load_after = os.getloadavg()
    lines = [
        "# nnctl benchmark: per-example SGD on MNIST",
        "",
        f"- date: {started}",
        f"- machine: {platform.platform()}; CPU: {cpu_model()}; {cores} cores ({usable} usable by this process)",
        (f"- load average (1, 5, 15 min): {'/'.join(f'{v:.2f}' for v in load_before)} at start, "
        f"{'/'.join(f'{v:.2f}' for v in load_after)} at end"),
        (f"- Python {platform.python_version()}; numpy {version('numpy')}; numba {numba}; torch {torch}; "
        f"scikit-learn {version('scikit-learn')}"),
        f"- thread pools: {thread_pools()}",
    ]
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        if variable in os.environ:
            lines.append(f"- {variable}={os.environ[variable]}")
    return lines


def workload_notes(n: int, args, tools: list[str]) -> list[str]:
    peers = [t for t in tools if t != BASELINE]
    lines = [
        "",
        (f"Workload: per-example SGD (batch size 1, plain SGD, learning rate {LEARNING_RATE}, no momentum, "
        f"no weight decay), sigmoid hidden units, softmax + cross-entropy, {DTYPE}, on the {n:,} bundled "
        f"MNIST training examples (pixel/255) in one fixed shuffled order. Each tool is warmed up on "
        f"{WARMUP_EXAMPLES} examples first (not timed: numba compilation, PyTorch setup), then timed "
        f"{args.repeats} time(s), the repeats interleaved across tools; the table shows the median."),
    ]
    if BASELINE in tools:
        lines.append(f"The {BASELINE} engine is timed on full epochs of {n:,} examples.")
    if peers:
        timed = min(args.peer_examples, n)
        if timed < n:
            lines.append(
                f"**{', '.join(peers)}: each timed run covers only the first {timed:,} examples of the epoch, "
                f"and seconds per epoch are extrapolated linearly to {n:,} examples** "
                f"(s/epoch = seconds x {n:,} / {timed:,}).")
        else:
            lines.append(f"{', '.join(peers)}: timed on full epochs of {n:,} examples.")
    lines += [
        "",
        ("Columns: **s / epoch (median)** the median over the runs of the seconds for one epoch of "
        f"{n:,} examples; **examples/s** {n:,} / that median; **vs {BASELINE}** how many times "
        f"longer that tool takes per epoch than the {BASELINE} engine on the same network; **timed per run** "
        "how many examples each run timed; **s / epoch (min-max)** the spread over the runs; **train acc. "
        "after** accuracy on the training set once the timed runs are over (a sanity check that the "
        f"tool trained; not comparable across tools when they saw different numbers of examples)."),
    ]
    how = []
    if any(t not in PEERS for t in tools):
        sizes = ", ".join(f"{name} {size:,}" for name, size in CHUNK_SIZES.items())
        how.append(f"The nnctl engines are called as `nnctl train` calls them, chunks of examples per "
                   f"`run_chunk` ({sizes}), from the same initial weights (LeCun normal, seed 0).")
    if "torch" in tools:
        how.append("PyTorch runs `nn.Linear` + `nn.Sigmoid` layers, `CrossEntropyLoss` and `torch.optim.SGD`, "
                   "one example per step, from nnctl's initial weights, and reads the loss and the argmax "
                   "back every step as the engines do.")
    if "sklearn" in tools:
        how.append("scikit-learn runs `MLPClassifier(activation='logistic', solver='sgd', batch_size=1, "
                   "learning_rate_init=0.1, momentum=0, nesterovs_momentum=False, alpha=0, shuffle=False)`, "
                   "one `partial_fit` call per timed run (its own initial weights, Glorot uniform).")
    if how:
        lines += ["", " ".join(how)]
    return lines


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: .venv/bin/python benchmarks/bench.py --tools reference --networks 784-100-10 "
               "--repeats 1 --peer-examples 2000")
    parser.add_argument("--networks", nargs="+", default=list(DEFAULT_NETWORKS), metavar="SIZES",
                        help=f"networks as layer sizes, e.g. 784-300-10 (default: {' '.join(DEFAULT_NETWORKS)})")
    parser.add_argument("--tools", nargs="+", default=list(DEFAULT_TOOLS), metavar="TOOL",
                        help="nnctl engines and peers: fused, reference, torch, sklearn (default: all; "
                             "those not available are skipped with a note)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per network and tool (default: 3)")
    parser.add_argument("--peer-examples", type=int, default=10_000, metavar="N",
                        help="examples timed per run for every tool but fused, extrapolated to the "
                             "epoch (default: 10000; 60000 times full epochs)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="also write the Markdown report to FILE")
    parser.add_argument("--memory", action="store_true",
                        help="also report peak RSS and wall time of `nnctl train configs/mlp-300.yaml` (1 epoch)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="also time `nnctl train configs/mlp-300.yaml` end to end and report its test accuracy")
    parser.add_argument("--e2e-epochs", type=int, default=10, metavar="N",
                        help="epochs for --end-to-end (default: 10; patience 3 may stop it earlier)")
    parser.add_argument("--cli-engine", metavar="ENGINE",
                        help="engine for --memory and --end-to-end (default: fused if registered, else reference)")
    parser.add_argument("--torch-threads", type=int, metavar="N",
                        help="call torch.set_num_threads(N) (default: leave PyTorch's own default)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed table (with --memory / --end-to-end)")
    args = parser.parse_args(argv)
    global TORCH_THREADS

    args.networks = split_list(args.networks)
    args.tools = list(dict.fromkeys(split_list(args.tools)))
    known = set(DEFAULT_TOOLS) | set(ENGINES)
    unknown = [t for t in args.tools if t not in known]
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    for name in args.networks:
        try:
            parse_network(name)
        except argparse.ArgumentTypeError as e:
            parser.error(str(e))
    if args.repeats < 1 or args.peer_examples < 1 or args.e2e_epochs < 1:
        parser.error("--repeats, --peer-examples and --e2e-epochs must be at least 1")
    if args.torch_threads is not None and args.torch_threads < 1:
        parser.error("--torch-threads must be at least 1")
    if args.cli_engine is not None and args.cli_engine not in ENGINES:
        parser.error(f"--cli-engine: '{args.cli_engine}' is not in nnctl.engine.ENGINES ({', '.join(ENGINES)})")

    TORCH_THREADS = args.torch_threads
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    load_before = os.getloadavg()
    body: list[str] = []
    tools: list[str] = []
    if not args.no_speed:
        tools, skipped = available_tools(args.tools)
        x, labels = load_mnist_train()
        log(f"data: {len(labels):,} training examples, {x.shape[1]} inputs; tools: {', '.join(tools) or 'none'}")
        rows, notes = measure_speed(args.networks, tools, args.repeats, args.peer_examples, x, labels)
        body += workload_notes(len(labels), args, tools)
        body += ["", "## Seconds per epoch", ""]
        body += speed_table(rows) if rows else ["No tool could run."]
        if skipped or notes:
            body += ["", *[f"- {note}" for note in skipped + notes]]
    if not args.no_speed and BASELINE in tools:
        body += ["", *phases_section(args.networks, x, labels, rows)]
    memory = e2e = None
    if args.memory:
        lines, memory = memory_section(args.cli_engine)
        body += ["", *lines]
    if args.end_to_end:
        lines, e2e = end_to_end_section(args.e2e_epochs, args.cli_engine)
        body += ["", *lines]
    if not args.no_speed:
        body += ["", *targets_section(rows, memory, e2e)]

    report = "\n".join(header(started, load_before) + body) + "\n"
    sys.stdout.write(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

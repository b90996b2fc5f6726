#!/usr/bin/env python3
"""Speed of per-example SGD on MNIST: nnctl's engines beside PyTorch and scikit-learn.

Every tool trains the same networks (workload.py: sigmoid hidden units, softmax + cross-entropy,
float32, plain SGD, learning rate 0.1, batch size 1) on the same 60,000 bundled MNIST training
examples, in the same shuffled order, in the same run. For each network and tool the report
gives the MEDIAN over --repeats timed runs of the seconds per full epoch, the examples per
second, and how much faster the "fused" engine is.

The "fused" engine always runs full epochs. The other tools (the "reference" engine, and the
peers of peers.py: PyTorch, scikit-learn) are much slower, so each of their timed runs covers only
the first --peer-examples examples of the epoch, extrapolated linearly to the epoch (the report
says so). Every tool is warmed up first, so numba's compilation and PyTorch's first-call setup are
not timed. The repeats are interleaved (repeat 1 of every tool, then repeat 2, ...) so that a
change in the machine's load hits all tools alike.

    .venv/bin/python benchmarks/bench.py                      # the speed table, all tools
    .venv/bin/python benchmarks/bench.py --quick --profile --memory --end-to-end   # a check
    .venv/bin/python benchmarks/bench.py --profile --memory --end-to-end --out docs/benchmarks.md

--profile adds where the fused engine's time goes (phases.py); --memory and --end-to-end run
`nnctl train configs/mlp-300.yaml` in a child process (nnctl_train.py); the targets of targets.py
close the report. Progress goes to stderr, the Markdown report to stdout (and --out FILE).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/bench.py` works from a checkout too

from benchmarks.inputs import inputs_section
from benchmarks.nnctl_train import TrainRun, end_to_end_section, memory_section, run_nnctl_train
from benchmarks.peers import PEERS, make_peer, missing_peers
from benchmarks.targets import targets_section
from benchmarks.workload import (
    BASELINE,
    DTYPE,
    LEARNING_RATE,
    SEED,
    WARMUP_EXAMPLES,
    NnctlRunner,
    Runner,
    initial_network,
    load_mnist_train,
    parse_network,
)
from nnctl.core.rules import one_hot
from nnctl.engine import CHUNK_SIZES, ENGINES

TOOLS = (*ENGINES, *PEERS)  # nnctl's engines (BASELINE among them), then the peers
# Defaults of a full run and of --quick (a check that every phase runs, in seconds)
FULL = {"networks": ["784-100-10", "784-300-10", "784-800-10", "784-500-150-10",
                     "784-1000-500-10"], "repeats": 3, "peer_examples": 10_000, "e2e_epochs": 10,
        "input_epochs": 4}
QUICK = {"networks": ["784-100-10"], "repeats": 1, "peer_examples": 1_000, "e2e_epochs": 1,
         "input_epochs": 2}


DEEP = "784-1000-500-10"
DEEP_NOTE = (
    f"{DEEP} is bound by memory traffic: each example reads W^[2] (1000x500 float32, 2 MB) in "
    "the forward pass and reads and writes it once more in the backward pass (W^[2]T delta^[2] "
    "and the update fused in one pass), plus the first layer's rows of the non-zero pixels: "
    "about 7.9 MB per example. At numpy's copy bandwidth for a 2 MB array on this machine "
    "(about 114 GB/s per core, `benchmarks/deep_threads.py`) that bounds an epoch at about 4.1 s "
    "on one core and 2.1 s on two; the fused engine splits such nets between two threads when "
    "the second core is free (`docs/deep-net-speed.md`: design, runs, how far from the bound).")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# the speed table


def make_runner(tool: str, sizes: list[int], x: np.ndarray, targets: np.ndarray,
                labels: np.ndarray, torch_threads: int) -> Runner:
    """`tool` ready to train the network `sizes` from its initial weights."""
    network = initial_network(sizes)
    if tool in PEERS:
        return make_peer(tool, network, x, labels, torch_threads)
    return NnctlRunner(tool, network, x, targets, labels)


def time_network(name: str, tools: list[str], args: argparse.Namespace, x: np.ndarray,
                 targets: np.ndarray, labels: np.ndarray, order: np.ndarray) -> list[dict]:
    """One row per tool: every tool warmed up, then the repeats interleaved across tools."""
    n = len(labels)
    runs = []
    for tool in tools:
        start = time.perf_counter()
        runner = make_runner(tool, parse_network(name), x, targets, labels, args.torch_threads)
        runner.warmup(order[:WARMUP_EXAMPLES])
        log(f"{name} {tool}: warm-up on {WARMUP_EXAMPLES} examples "
            f"{time.perf_counter() - start:.2f} s (not timed)")
        timed = n if tool == BASELINE else min(args.peer_examples, n)
        runs.append((runner, timed, []))
    for repeat in range(1, args.repeats + 1):
        for runner, timed, per_epoch in runs:  # each run goes on from where the last one stopped
            seconds = runner.run(order[:timed])
            per_epoch.append(seconds * n / timed)
            log(f"{name} {runner.name} run {repeat}/{args.repeats}: {timed:,} examples in "
                f"{seconds:.2f} s -> {per_epoch[-1]:.2f} s/epoch")
    return [{"network": name, "tool": runner.name, "timed_examples": timed, "epoch_examples": n,
             "runs": per_epoch, "median": statistics.median(per_epoch),
             "train_accuracy": runner.train_accuracy()} for runner, timed, per_epoch in runs]


def measure_speed(tools: list[str], args: argparse.Namespace, x: np.ndarray,
                  labels: np.ndarray) -> tuple[list[dict], list[str]]:
    """The speed table's rows, and a note for each network the data cannot train."""
    order = np.random.default_rng(SEED).permutation(len(labels))  # one epoch, the same for all
    classes = int(labels.max()) + 1
    targets = one_hot(labels, classes, DTYPE)
    rows, notes = [], []
    for name in args.networks:
        sizes = parse_network(name)
        if sizes[0] != x.shape[1] or sizes[-1] != classes:
            notes.append(f"{name}: skipped, the data has {x.shape[1]} inputs and {classes} classes")
            continue
        rows += time_network(name, tools, args, x, targets, labels, order)
    return rows, notes


def ratio_text(row: dict, baseline: dict | None) -> str:
    """The 'vs fused' column."""
    if row["tool"] == BASELINE:
        return "baseline"
    if baseline is None:
        return "-"
    ratio = row["median"] / baseline["median"]
    if ratio >= 1:
        return f"{BASELINE} is {ratio:.1f}x faster"
    return f"{BASELINE} is {1 / ratio:.1f}x slower"


def speed_table(rows: list[dict]) -> list[str]:
    """The Markdown table of seconds per epoch, one row per network and tool."""
    lines = [(f"| network | tool | s / epoch (median) | examples/s | vs {BASELINE} | "
              "timed per run | s / epoch (min-max) | train acc. after |"),
             "|---|---|---:|---:|---|---|---:|---:|"]
    for row in rows:
        baseline = next((r for r in rows
                         if r["network"] == row["network"] and r["tool"] == BASELINE), None)
        n, timed, runs = row["epoch_examples"], row["timed_examples"], row["runs"]
        measured = f"full epoch ({n:,})" if timed == n else f"{timed:,} of {n:,}, extrapolated"
        lines.append(
            f"| {row['network']} | {row['tool']} | {row['median']:.2f} | "
            f"{n / row['median']:,.0f} | {ratio_text(row, baseline)} | {measured} | "
            f"{min(runs):.2f}-{max(runs):.2f} | {row['train_accuracy']:.2%} |")
    return lines


# ---------------------------------------------------------------------------------------------
# the words around the tables


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
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


def versions(torch_threads: int) -> str:
    """Python and the libraries that do the arithmetic, with their thread counts."""
    torch = version("torch")
    if "torch" in sys.modules:  # the torch runner called torch.set_num_threads(torch_threads)
        torch += (f" (torch.get_num_threads() = {sys.modules['torch'].get_num_threads()}, set by "
                  f"--torch-threads {torch_threads})")
    numba = version("numba")  # asked after torch: numba.get_num_threads() starts numba's OpenMP
    if "numba" in sys.modules:  # pool, which resets the thread count OpenMP gives torch
        numba += f" ({sys.modules['numba'].get_num_threads()} threads)"
    return (f"Python {platform.python_version()}; numpy {version('numpy')}; numba {numba}; "
            f"torch {torch}; scikit-learn {version('scikit-learn')}")


def header(started: str, load_before: tuple[float, ...], args: argparse.Namespace) -> list[str]:
    """Date, machine, load, versions and thread pools: what the numbers depend on."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    before, after = ("/".join(f"{v:.2f}" for v in load) for load in (load_before, os.getloadavg()))
    lines = [
        "# nnctl benchmark: per-example SGD on MNIST", "",
        f"- date: {started}",
        (f"- machine: {platform.platform()}; CPU: {cpu_model()}; {cores} cores "
         f"({usable} usable by this process)"),
        f"- load average (1, 5, 15 min): {before} at start, {after} at end",
        f"- {versions(args.torch_threads)}",
        f"- thread pools: {thread_pools()}",
    ]
    if args.quick:
        lines.append("- **quick run (--quick)**: a check that every part runs, not a measurement")
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                     "NUMBA_NUM_THREADS"):
        if variable in os.environ:
            lines.append(f"- {variable}={os.environ[variable]}")
    return lines


def workload_notes(n: int, args: argparse.Namespace, tools: list[str]) -> list[str]:
    """The workload, how each tool was timed, and what the columns mean."""
    peers = [t for t in tools if t != BASELINE]
    lines = ["", (
        f"Workload: per-example SGD (batch size 1, plain SGD, learning rate {LEARNING_RATE}, no "
        f"momentum, no weight decay), sigmoid hidden units, softmax + cross-entropy, {DTYPE}, on "
        f"the {n:,} bundled MNIST training examples (pixel/255) in one fixed shuffled order. Each "
        f"tool is warmed up on {WARMUP_EXAMPLES} examples first (not timed: numba compilation, "
        f"PyTorch setup), then timed {args.repeats} time(s), the repeats interleaved across "
        "tools; the table shows the median.")]
    if BASELINE in tools:
        lines.append(f"The {BASELINE} engine is timed on full epochs of {n:,} examples.")
    timed = min(args.peer_examples, n)
    if peers and timed < n:
        lines.append(
            f"**{', '.join(peers)}: each timed run covers only the first {timed:,} examples of the "
            f"epoch, and seconds per epoch are extrapolated linearly to {n:,} examples** "
            f"(s/epoch = seconds x {n:,} / {timed:,}).")
    elif peers:
        lines.append(f"{', '.join(peers)}: timed on full epochs of {n:,} examples.")
    lines += ["", (
        "Columns: **s / epoch (median)** the median over the runs of the seconds for one epoch of "
        f"{n:,} examples; **examples/s** {n:,} / that median; **vs {BASELINE}** how many times "
        f"longer that tool takes per epoch than the {BASELINE} engine on the same network; "
        "**timed per run** how many examples each run timed; **s / epoch (min-max)** the spread "
        "over the runs; **train acc. after** accuracy on the training set once the timed runs "
        "are over (a sanity check that the tool trained; not comparable across tools when they "
        "saw different numbers of examples).")]
    how = tool_notes(tools, args.torch_threads)
    return lines + (["", " ".join(how)] if how else [])


def tool_notes(tools: list[str], torch_threads: int) -> list[str]:
    """How each kind of tool was called."""
    how = []
    if any(t not in PEERS for t in tools):
        sizes = ", ".join(f"{name} {size:,}" for name, size in CHUNK_SIZES.items())
        how.append("The nnctl engines are called as `nnctl train` calls them, chunks of examples "
                   f"per `run_chunk` ({sizes}), from the same initial weights (LeCun normal, "
                   f"seed {SEED}).")
    if "torch" in tools:
        how.append("PyTorch runs `nn.Linear` + `nn.Sigmoid` layers, `CrossEntropyLoss` and "
                   "`torch.optim.SGD`, one example per step, from nnctl's initial weights, and "
                   "reads the loss and the argmax back every step as the engines do, on "
                   f"{torch_threads} thread(s) (`torch.set_num_threads`, --torch-threads).")
    if "sklearn" in tools:
        how.append("scikit-learn runs `MLPClassifier(activation='logistic', solver='sgd', "
                   "batch_size=1, learning_rate_init=0.1, momentum=0, nesterovs_momentum=False, "
                   "alpha=0, shuffle=False)`, one `partial_fit` call per timed run (its own "
                   "initial weights, Glorot uniform).")
    return how


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, checked; those left out take FULL's defaults, or QUICK's with --quick."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--networks", nargs="+", metavar="SIZES",
        help=f"networks as layer sizes (default: {' '.join(FULL['networks'])})")
    add("--tools", nargs="+", default=list(TOOLS), metavar="TOOL",
        help=f"tools to time: {', '.join(TOOLS)} (default: all; peers not installed are skipped)")
    add("--repeats", type=int, help=f"timed runs per network and tool (default: {FULL['repeats']})")
    add("--peer-examples", type=int, metavar="N",
        help="examples timed per run by every tool but fused, extrapolated to the epoch "
             f"(default: {FULL['peer_examples']}; 60000 times full epochs)")
    add("--torch-threads", type=int, default=1, metavar="N",
        help="torch.set_num_threads(N) for the PyTorch peer (default: 1)")
    add("--profile", action="store_true",
        help="also time layer 1 of the fused engine alone: where its time goes")
    add("--memory", action="store_true",
        help="also report peak RSS and wall time of `nnctl train configs/mlp-300.yaml` (1 epoch)")
    add("--end-to-end", action="store_true",
        help="also time `nnctl train configs/mlp-300.yaml` end to end, with its test accuracy")
    add("--e2e-epochs", type=int, metavar="N",
        help=f"epochs for --end-to-end (default: {FULL['e2e_epochs']}; patience 3 may stop it)")
    add("--inputs", action="store_true",
        help="also time `nnctl train` of 784-800-10 plain, distorted and with dropout")
    add("--input-epochs", type=int, metavar="N",
        help=f"epochs per --inputs run (default: {FULL['input_epochs']}; the first is not "
             "counted)")
    add("--no-speed", action="store_true", help="skip the speed table (and --profile)")
    add("--quick", action="store_true",
        help="a check that every part runs, in seconds, not a measurement: by default "
             "784-100-10, 1 repeat, 1000 peer examples, 1 end-to-end epoch")
    add("--out", type=Path, metavar="FILE", help="also write the Markdown report to FILE")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    check_args(parser, args)
    return args


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with a usage error on an unknown tool, a malformed network or a count below 1."""
    args.networks = split_list(args.networks)
    args.tools = list(dict.fromkeys(split_list(args.tools)))
    unknown = [t for t in args.tools if t not in TOOLS]
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    for name in args.networks:
        try:
            parse_network(name)
        except argparse.ArgumentTypeError as e:
            parser.error(str(e))
    if min(args.repeats, args.peer_examples, args.e2e_epochs, args.torch_threads) < 1:
        parser.error("--repeats, --peer-examples, --e2e-epochs and --torch-threads must be >= 1")
    if args.input_epochs < 2:
        parser.error("--input-epochs must be >= 2 (the first epoch is not counted)")


def split_list(values: list[str]) -> list[str]:
    """`--tools a b`, `--tools a,b` and `--tools a, b` all mean [a, b]."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def deep_bound(x: np.ndarray) -> dict:
    """DEEP's two-core bound on an epoch of 60,000 examples, from numpy's copy bandwidth of a 2 MB
    array now and the bytes an example moves (benchmarks/deep_threads.py): a row of its own
    (tool "bound") beside the speed table's, for the Targets."""
    from benchmarks.deep_threads import bytes_per_example, copy_bandwidth

    nonzero = float(np.mean(np.count_nonzero(x, axis=1)))
    moved = bytes_per_example(parse_network(DEEP), nonzero)
    bandwidth = copy_bandwidth(2)
    return {"network": DEEP, "tool": "bound", "median": 60_000 * moved / (2 * bandwidth),
            "bandwidth": bandwidth}


def speed_sections(args: argparse.Namespace) -> tuple[list[str], list[dict]]:
    """The workload, the speed table and, with --profile, where the fused engine's time goes."""
    skipped = missing_peers(args.tools)
    tools = [t for t in args.tools if t not in skipped]
    x, labels = load_mnist_train()
    log(f"data: {len(labels):,} training examples, {x.shape[1]} inputs; "
        f"tools: {', '.join(tools) or 'none'}")
    rows, notes = measure_speed(tools, args, x, labels)
    lines = workload_notes(len(labels), args, tools)
    lines += ["", "## Seconds per epoch", "", *(speed_table(rows) if rows else ["No tool ran."])]
    if skipped or notes:
        lines += ["", *[f"- {note}" for note in [*skipped.values(), *notes]]]
    if DEEP in args.networks:
        bound = deep_bound(x)  # after the speed table: the Targets read it from `rows`
        rows.append(bound)
        lines += ["", DEEP_NOTE, "", (f"In this run numpy copied a 2 MB array at "
                                      f"{bound['bandwidth'] / 1e9:.0f} GB/s: {DEEP}'s two-core "
                                      f"bound is {bound['median']:.2f} s per 60,000-example "
                                      "epoch.")]
    if args.profile and BASELINE in tools:
        from benchmarks.phases import phases_section  # numba's kernels, only when asked for

        lines += ["", *phases_section(args.networks, x, rows)]
    return lines, rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    load_before = os.getloadavg()
    body: list[str] = []
    rows: list[dict] = []
    if not args.no_speed:
        body, rows = speed_sections(args)
    memory: TrainRun | None = None
    e2e: TrainRun | None = None
    if args.memory:
        memory = run_nnctl_train(1)
        body += ["", *memory_section(memory)]
    if args.end_to_end:  # one epoch measured for memory already is that end-to-end run too
        e2e = memory if memory and args.e2e_epochs == 1 else run_nnctl_train(args.e2e_epochs)
        body += ["", *end_to_end_section(e2e)]
    distorted = None
    if args.inputs:
        lines, distorted = inputs_section(args.input_epochs, 3000 if args.quick else None)
        body += ["", *lines]
    if not args.no_speed or memory or e2e or distorted is not None:  # what was measured
        body += ["", *targets_section(rows, memory, e2e, distorted)]
    report = "\n".join(header(started, load_before, args) + body) + "\n"
    sys.stdout.write(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The fused engine in one thread and in two, on deep and shallow networks, in the same run.

bench.py's workload (workload.py: sigmoid, softmax + cross-entropy, float32, learning rate 0.1,
per-example SGD, the shuffled MNIST training set), the first --examples examples of the epoch
per timed run, in chunks of the engine's CHUNK_SIZES, scaled to a 60,000-example epoch. Each
network is trained four ways, the repeats interleaved (repeat 1 of every way, then repeat 2...):

- one thread: sgd_chunk, the single-thread kernel;
- parts, one thread: sgd_chunk_parts running both parts in one thread;
- parts, two threads: sgd_chunk_parts, part 1 in a helper thread, three barriers per example
  on a net with two hidden layers;
- automatic: what `nnctl train` does (threads.threads_for, then threads.Pace chunk by chunk).

The report also estimates how far each way is from the memory bandwidth: the bytes an example
moves (each weight of layers >= 2 read in the forward pass, read and written in the fused
backward pass; the rows of W^[1]T of the example's non-zero pixels likewise) over its time,
beside numpy copying a 2 MB and a 64 MB float32 array (read + write) in the same run.

    .venv/bin/python benchmarks/deep_threads.py                    # about 2 minutes
    .venv/bin/python benchmarks/deep_threads.py --quick            # a check, seconds
    .venv/bin/python benchmarks/deep_threads.py --out docs/deep-net-speed-run.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/deep_threads.py` works from a checkout

from benchmarks.workload import (
    DTYPE,
    LEARNING_RATE,
    LOSS,
    RULE,
    SEED,
    WARMUP_EXAMPLES,
    initial_network,
    load_mnist_train,
    parse_network,
)
from nnctl.core.rules import one_hot
from nnctl.engine import CHUNK_SIZES, fused
from nnctl.engine.kernels import PAD
from nnctl.engine.threads import Pace, usable_cores

EPOCH = 60_000
FULL = {"networks": ["784-1000-500-10", "784-300-10", "784-800-10", "784-500-150-10",
                     "784-300-100-10"], "examples": 20_000, "repeats": 3}
QUICK = {"networks": ["784-100-50-10"], "examples": 1_000, "repeats": 1}


class Always:
    """A schedule that runs every piece of every chunk in `threads` threads."""

    def __init__(self, threads: int) -> None:
        self.n = threads

    def plan(self) -> tuple[int, int]:
        return self.n, self.n

    def timed(self, threads: int, seconds_per_example: float) -> None:
        pass


class Recorded(Pace):
    """threads.Pace, counting the chunks whose bulk (all but the first PROBE examples) it ran in
    two threads."""

    def __init__(self) -> None:
        super().__init__()
        self.in_two = self.chosen = 0

    def plan(self) -> tuple[int, int]:
        plan = super().plan()
        self.chosen += 1
        self.in_two += plan[1] == 2
        return plan


WAYS = {"one thread": lambda: {"threads": 1},
        "parts, one thread": lambda: {"threads": 2, "schedule": Always(1)},
        "parts, two threads": lambda: {"threads": 2, "schedule": Always(2)},
        "automatic": lambda: {"schedule": Recorded()}}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def copy_bandwidth(megabytes: float, repeats: int = 5) -> float:
    """Bytes per second numpy moves copying a float32 array of this size (read + write),
    median of `repeats` timings of enough copies to take a few hundredths of a second."""
    a = np.ones(int(megabytes * 2**20 / 4), dtype=np.float32)
    b = np.empty_like(a)
    copies = max(3, int(200 / megabytes))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(copies):
            np.copyto(b, a)
        times.append((time.perf_counter() - start) / copies)
    return 2 * a.nbytes / statistics.median(times)


def bytes_per_example(sizes: list[int], nonzero: float) -> float:
    """Weights moved per example: 3 passes (read; read + write) over layers >= 2 and over the
    non-zero pixels' rows of W^[1]T (padded as the engine pads them)."""
    padded = -(-sizes[1] // PAD) * PAD
    weights = nonzero * padded + sum(a * b for a, b in pairwise(sizes[1:]))
    return 3 * weights * np.dtype(DTYPE).itemsize


def time_network(name: str, x, targets, labels, order, repeats: int) -> dict:
    """Median seconds over `order` for each way, and what the automatic way chose."""
    sizes = parse_network(name)
    runs, schedules = {}, {}
    for way, options in WAYS.items():
        kwargs = options()
        network = initial_network(sizes)
        runs[way] = fused.make(network, x, targets, labels, RULE, LOSS, **kwargs)
        schedules[way] = kwargs.get("schedule")
        runs[way](order[:WARMUP_EXAMPLES], LEARNING_RATE)  # compiles
    chunk = CHUNK_SIZES["fused"]
    times, cpu = {way: [] for way in WAYS}, {way: [] for way in WAYS}
    for repeat in range(repeats):
        for way, run_chunk in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(order), chunk):
                run_chunk(order[i : i + chunk], LEARNING_RATE)
            times[way].append(time.perf_counter() - start)
            cpu[way].append(time.process_time() - start_cpu)
            log(f"{name} {way} repeat {repeat + 1}: {times[way][-1]:.2f} s, "
                f"CPU {cpu[way][-1]:.2f} s")
    pace = schedules["automatic"]
    auto = ("one thread (threads_for: 1)" if not pace.chosen
            else f"parts: {pace.in_two} of {pace.chosen} chunks in two threads")
    return {"medians": {way: statistics.median(t) for way, t in times.items()},
            "cpu": {way: statistics.median(t) for way, t in cpu.items()}, "auto": auto}


def parallel_scaling(seconds: float = 0.3) -> float:
    """How much faster two threads do two equal pieces of pure arithmetic (no memory, no
    barrier) than one thread does them one after the other: about 2 when a second core is
    free, about 1 when the machine's other processes take it."""
    from numba import njit

    @njit(nogil=True)
    def arithmetic(n):
        s = 0.0
        for i in range(n):
            s += np.sqrt(i)
        return s

    arithmetic(10)
    n, start = 1_000_000, time.perf_counter()
    arithmetic(n)
    n = int(n * seconds / max(time.perf_counter() - start, 1e-6))
    start = time.perf_counter()
    arithmetic(n)
    arithmetic(n)
    one = time.perf_counter() - start
    start = time.perf_counter()
    helper = threading.Thread(target=arithmetic, args=(n,))
    helper.start()
    arithmetic(n)
    helper.join()
    return one / (time.perf_counter() - start)


def seconds_table(results: dict, key: str, n: int, extra: dict) -> list[str]:
    """A table of seconds per epoch, one row per network, a column per way (`r[key]`, seconds
    for n examples) and the `extra` columns (header: cell of a network's results)."""
    lines = ["| network | " + " | ".join([*WAYS, *extra]) + " |",
             "|---|" + "---:|" * (len(WAYS) + len(extra))]
    for name, r in results.items():
        cells = [f"{r[key][way] / n * EPOCH:.2f} s" for way in WAYS]
        cells += [cell(r) for cell in extra.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def wall_ratio(r: dict) -> str:
    return f"{r['medians']['one thread'] / r['medians']['parts, two threads']:.2f}x"


def cpu_ratio(r: dict) -> str:
    return f"{r['medians']['one thread'] / (r['cpu']['parts, two threads'] / 2):.2f}x"


def report(args, results: dict, bandwidth: dict, nonzero: float,
           scaling: list[float]) -> list[str]:
    n = args.examples
    command = f"`.venv/bin/python benchmarks/deep_threads.py{' --quick' if args.quick else ''}`"
    lines = ["# Deep nets in one thread and two: the fused engine", "",
             (f"{command} (median of {args.repeats} interleaved runs of {n:,} examples, scaled "
              f"to a {EPOCH:,}-example epoch; workload.py's workload; {nonzero:.0f} non-zero "
              f"pixels per example on average; {usable_cores()} usable cores). "
              "Two threads doing pure arithmetic ran "
              + " and ".join(f"{s:.2f}x" for s in scaling)
              + " as fast as one (before and after the timings: about 2 when the second core "
              "is free)."), "",
             "Seconds per epoch (wall clock):", "",
             *seconds_table(results, "medians", n, {"two threads / one": wall_ratio,
                                                     "automatic chose": lambda r: r["auto"]})]
    lines += ["", ("CPU seconds per epoch (both threads' together; a thread waiting for a core "
              "uses none, a thread spinning at a barrier does). Half of the two threads' CPU "
              "time is about what their wall clock would be with a free core each:"), "",
              *seconds_table(results, "cpu", n,
                             {"one thread / (two threads' CPU / 2)": cpu_ratio})]
    lines += ["", "Memory traffic: bytes moved per example over its time, beside numpy's copy "
              "(read + write) measured in the same run: "
              + ", ".join(f"{mb} MB array {bw / 1e9:.0f} GB/s" for mb, bw in bandwidth.items())
              + ".", "",
              "| network | MB per example | " + " | ".join(WAYS) + " |",
              "|---|---:|" + "---:|" * len(WAYS)]
    for name, r in results.items():
        moved = bytes_per_example(parse_network(name), nonzero)
        cells = [f"{moved / (r['medians'][way] / n) / 1e9:.0f} GB/s" for way in WAYS]
        lines.append(f"| {name} | {moved / 1e6:.2f} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", type=parse_network, default=None)
    parser.add_argument("--examples", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="a check that it runs, seconds")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    defaults = QUICK if args.quick else FULL
    networks = (["-".join(map(str, s)) for s in args.networks] if args.networks
                else defaults["networks"])
    args.examples = args.examples or defaults["examples"]
    args.repeats = args.repeats or defaults["repeats"]
    log(f"usable cores: {usable_cores()}")
    x, labels = load_mnist_train()
    targets = one_hot(labels, 10, DTYPE)
    order = np.random.default_rng(SEED).permutation(len(x))[: args.examples]
    nonzero = float(np.mean(np.count_nonzero(x[order], axis=1)))
    bandwidth = {mb: copy_bandwidth(mb) for mb in (2, 64)}
    scaling = [parallel_scaling()]
    results = {name: time_network(name, x, targets, labels, order, args.repeats)
               for name in networks}
    bandwidth = {mb: max(bw, copy_bandwidth(mb)) for mb, bw in bandwidth.items()}  # after, too
    scaling.append(parallel_scaling())
    text = "\n".join(report(args, results, bandwidth, nonzero, scaling)) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

"""Data larger than today's: training's peak memory on MNIST and on a set ten times larger, and
training from a memory-mapped file larger than the memory the process may use.

The large set is made in the benchmark's own temporary folder, as the infinite-MNIST generator
makes its digits: MNIST's 60,000 training images, then nine distorted copies of each (elastic
σ 4 α 34, rotation ±10°, scaling ±10%; nnctl's own distortions, seeded), 600,000 images in all,
written as uncompressed IDX (470 MB of pixels), with MNIST's test set beside them.

1. Peak memory: `nnctl train configs/mlp-300.yaml` for one epoch on MNIST (uncompressed) and on the
   large set, with `data.stream: true` and without; the growth per added pixel is (peak on the
   large set - peak on MNIST) / (540,000 x 784). The peak is the child's VmHWM (see
   nnctl_train.py), which counts the mapped file's pages it has touched as well.
2. Larger than memory: the same streamed epoch on the large set in a memory control group whose
   limit (resident memory and page cache together) is below the file's size, the file's pages
   dropped from the cache first; and the default (not streamed) in the same group, which cannot
   hold the data. Needs a writable cgroup memory controller (v1 or v2; root here); otherwise
   the section says it was not measured.

    python benchmarks/large_data.py            (make bench appends its section)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.nnctl_train import Child, train_child
from nnctl.core.distortions import Distortions, draw, field_bank
from nnctl.engine.distort import distort
from nnctl.io.config.schema import DataConfig, held_out
from nnctl.io.examples import BUNDLED_DIR, STANDARD_NAMES, standard_paths
from nnctl.io.idx import read_idx, write_idx

COPIES = 10  # the large set: MNIST's training images and 9 distorted copies of each
DISTORTIONS = Distortions(sigma=4.0, alpha=34.0, rotation=10.0, scale=0.1)
SEED = 20261206
CONFIG = "configs/mlp-300.yaml"
BLOCK = 10_000  # images distorted and written at a time
CGROUP_LIMIT = 400 * 2**20  # the group's memory: less than the large file's 470 MB


def make_sets(tmp: Path, copies: int) -> tuple[Path, Path]:
    """MNIST uncompressed (tmp/mnist) and the large set (tmp/large), each with MNIST's test set."""
    source = standard_paths(BUNDLED_DIR)
    small, large = tmp / "mnist", tmp / "large"
    for directory in (small, large):
        directory.mkdir()
        for key in ("test_images", "test_labels"):
            write_idx(directory / STANDARD_NAMES[key], read_idx(source[key]), gz=False)
    images, labels = read_idx(source["train_images"]), read_idx(source["train_labels"])
    write_idx(small / STANDARD_NAMES["train_images"], images, gz=False)
    write_idx(small / STANDARD_NAMES["train_labels"], labels, gz=False)
    write_idx(large / STANDARD_NAMES["train_images"], distorted_copies(images, copies), gz=False)
    write_idx(large / STANDARD_NAMES["train_labels"], np.tile(labels, copies), gz=False)
    return small, large


def distorted_copies(images: np.ndarray, copies: int) -> np.ndarray:
    """The images, then copies - 1 distorted copies of them (uint8, rounded), seeded."""
    shape = images.shape[1:]
    bank = field_bank(DISTORTIONS, shape, SEED)
    rng = np.random.default_rng(SEED)
    flat = images.reshape(len(images), -1)
    out = np.empty((copies, *flat.shape), dtype=np.uint8)
    out[0] = flat
    for copy in out[1:]:
        for start in range(0, len(flat), BLOCK):
            block = (flat[start : start + BLOCK] / 255.0).astype(np.float32)
            moved = np.empty_like(block)
            distort(block, draw(DISTORTIONS, len(block), rng), bank, shape, out=moved)
            copy[start : start + BLOCK] = np.rint(np.clip(moved, 0, 1) * 255)
    return out.reshape(copies * len(images), *shape)


def drop_cached(path: Path) -> None:
    """Ask the kernel to drop the file's pages from the page cache (they are clean: fsynced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class MemoryGroup:
    """A memory control group of its own (cgroup v2, or v1's memory controller) limited to
    `limit` bytes of memory, page cache included; `available()` says why not, if it cannot be."""

    def __init__(self, limit: int):
        self.limit, self.path, self.procs, self.why_not = limit, None, None, None
        v2, v1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory")
        name = f"nnctl-bench-{os.getpid()}"
        try:
            if (v2 / "cgroup.controllers").exists():
                self.path = v2 / name
                self.path.mkdir()
                (self.path / "memory.max").write_text(str(limit))
                (self.path / "memory.swap.max").write_text("0")
            elif v1.is_dir():
                self.path = v1 / name
                self.path.mkdir()
                (self.path / "memory.limit_in_bytes").write_text(str(limit))
            else:
                self.why_not = "no cgroup memory controller here"
        except OSError as e:
            self.why_not = f"cannot make a memory control group here ({e.strerror})"
            self.close()

    def run(self, args: list[str], check: bool = False, **options
            ) -> subprocess.CompletedProcess:
        """subprocess.run(args, check=check, **options), the child in the group from before its
        exec."""
        procs = str(self.path / "cgroup.procs")

        def enter() -> None:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        return subprocess.run(args, check=check, **options, preexec_fn=enter)

    def close(self) -> None:
        if self.path is not None and self.path.exists():
            try:
                self.path.rmdir()
            except OSError:
                pass


def train(data_dir: Path, out: Path, stream: bool, group: MemoryGroup | None = None) -> Child:
    """One epoch of CONFIG on `data_dir` in a child (in `group`, if given)."""
    print(f"running: nnctl train on {data_dir.name}, stream {stream}"
          + (" in the memory group" if group else ""), file=sys.stderr, flush=True)
    args = [CONFIG, "--out", str(out), "--force", "--quiet", "--set", "training.epochs=1",
            "--set", f"data.dir={data_dir}", "--set", f"data.stream={str(stream).lower()}"]
    return train_child(args, out, *((group.run,) if group else ()))


def section(copies: int = COPIES) -> list[str]:
    lines = ["## Data larger than today's", ""]
    with tempfile.TemporaryDirectory(prefix="nnctl-large-") as name:
        tmp = Path(name)
        start = time.perf_counter()
        small, large = make_sets(tmp, copies)
        made = time.perf_counter() - start
        n_small = 60_000
        n_large = n_small * copies
        pixels = (n_large - n_small) * 784
        runs = {(d.name, s): train(d, tmp / f"{d.name}-{s}", s)
                for d in (small, large) for s in (True, False)}
        for (where, stream), run in runs.items():
            if run.status != 0:
                raise SystemExit(f"nnctl train on {where} (stream {stream}) failed: "
                                 f"{run.stderr}")
        size = (large / STANDARD_NAMES["train_images"]).stat().st_size
        lines += [
            (f"Made in {made:.0f} s in the benchmark's temporary folder: MNIST's training images "
             f"and {copies - 1} distorted copies of each ({n_large:,} images, an uncompressed "
             f"IDX file of {size / 1e6:.0f} MB; elastic σ 4 α 34, rotation ±10°, scaling ±10%). "
             f"One epoch of `nnctl train {CONFIG} --set data.dir=DIR --set "
             "data.stream=true|false` on each (a twelfth held out for validation, as by "
             f"default: {trained(n_small):,} and {trained(n_large):,} examples trained); the "
             "peak is the child's VmHWM, mapped file pages included."), "",
            (f"| data.stream | peak, MNIST | peak, {n_large:,} images | growth per added pixel | "
             f"target ≤ 1.2 B | epoch, MNIST | epoch, {n_large:,} |"),
            "|---|---:|---:|---:|---|---:|---:|"]
        for stream in (True, False):
            a, b = runs[("mnist", stream)], runs[("large", stream)]
            growth = (b.peak_kib - a.peak_kib) * 1024 / pixels
            lines.append(
                f"| {str(stream).lower()} | {a.peak_kib / 1024:.0f} MiB | "
                f"{b.peak_kib / 1024:.0f} MiB | {growth:.2f} B | "
                f"{'met' if growth <= 1.2 else 'missed'} | "
                f"{a.summary['train_seconds']:.1f} s | {b.summary['train_seconds']:.1f} s |")
        lines += ["", *larger_than_memory(large, n_large, tmp, runs[("large", True)])]
    return lines


def trained(n: int) -> int:
    """The examples an epoch trains of a set of n, a twelfth held out (the default)."""
    return n - held_out(DataConfig().validation, n)


def larger_than_memory(large: Path, n_large: int, tmp: Path, free_run: Child) -> list[str]:
    group = MemoryGroup(CGROUP_LIMIT)
    size = (large / STANDARD_NAMES["train_images"]).stat().st_size
    title = (f"Larger than memory: the {n_large:,} images' {size / 2**20:.0f} MiB file "
             f"trained in a memory control group limited to {CGROUP_LIMIT / 2**20:.0f} MiB "
             "(resident memory and page cache together), its pages dropped from the cache first.")
    if group.why_not:
        return [title, "", f"Not measured: {group.why_not}."]
    try:
        rows = []
        for stream in (True, False):
            drop_cached(large / STANDARD_NAMES["train_images"])
            run = train(large, tmp / f"group-{stream}", stream, group)
            if run.status == 0:
                seconds = run.summary["train_seconds"]
                outcome = (f"trained: epoch {seconds:.1f} s ({trained(n_large) / seconds:,.0f} "
                           f"examples/s), test accuracy {run.summary['test_accuracy']:.2%}")
            else:
                outcome = (f"exit status {run.status} (killed by the group's memory limit)"
                           if run.status < 0 else f"failed, exit status {run.status}")
            rows.append(f"| {str(stream).lower()} | {outcome} | {run.wall:.1f} s |")
    finally:
        group.close()
    free = free_run.summary["train_seconds"]
    return [title, "", "| data.stream | outcome | wall time |", "|---|---|---:|", *rows, "",
            ("The same streamed epoch without the limit (the file in the page cache): "
             f"{free:.1f} s.")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=COPIES,
                        help="the large set's size in MNISTs (default 10)")
    args = parser.parse_args()
    print("\n".join(section(args.copies)))


if __name__ == "__main__":
    main()

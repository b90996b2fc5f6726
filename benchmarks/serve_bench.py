#!/usr/bin/env python3
"""Speed of `nnctl serve`: requests per second and latency of POST /predict on loopback, and
its memory while it is sent large images.

Starts `nnctl serve RUN --port 0` as its own process (as a user would), then sends the same PNG
(a typeset 7 of data/own-digits) --requests times from 1, 4 and 16 client threads of this
process, each request on a new connection (the server closes every connection after its answer),
after --warmup requests that are not timed. Latency is the time from opening the connection to
the last byte of the answer; requests per second is requests / wall time of the batch. Then what
the page asks while you draw: POST /predict?explain=1 (the prediction, the 28x28 input and the
hidden units that respond most) with a 280x280 PNG like the page's canvas, a 7 in two thick
strokes. Then memory: a new server sent --uploads (12) images of 4096x4096 pixels at once,
--rounds (3) times (a PNG and a JPEG of noise, each under the 2 MB a request may send), its
resident memory before, at its peak and a second after.

Without --run it first trains configs/default.yaml (784-300-10) for one epoch on the bundled MNIST
into a temporary directory: the speed of serving does not depend on how well it was trained.

    .venv/bin/python benchmarks/serve_bench.py --out docs/serve-benchmark.md    # make serve-bench
    .venv/bin/python benchmarks/serve_bench.py --run runs/default --requests 200

The Markdown report goes to stdout (and --out FILE); progress to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python benchmarks/serve_bench.py` works from a checkout too

from benchmarks.bench import cpu_model, version

IMAGE = ROOT / "data" / "own-digits" / "7-DejaVuSans.png"
CONFIG = "configs/default.yaml"
ATTACK_SIDE = 4096  # the largest image predict takes: 4096 x 4096 pixels


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def canvas_png() -> bytes:
    """A 7 drawn as the page draws it: black strokes 22 pixels wide on a white 280x280 canvas."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (280, 280), "white")
    pen = ImageDraw.Draw(canvas)
    pen.line([(78, 61), (203, 61), (140, 219)], fill="black", width=22, joint="curve")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def attack_images(side: int = ATTACK_SIDE) -> list[tuple[str, bytes]]:
    """Large images a client may send (each under the 2 MB a body may have), of noise so that
    they do not compress trivially (levels 96 to 159 in each channel): (description, bytes). A
    PNG of random colours in 8x8 blocks (an RGB PNG of noise in every pixel would be 48 MB), and
    a JPEG of random colours in every pixel at quality 1. A black 7 is drawn across both, so
    that they are read as a digit (noise alone is "no digit found") all the way through."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    blocks = rng.integers(96, 160, (side // 8, side // 8, 3), dtype=np.uint8)
    png = Image.fromarray(blocks).resize((side, side), Image.NEAREST)
    jpeg = Image.fromarray(rng.integers(96, 160, (side, side, 3), dtype=np.uint8))
    for image in (png, jpeg):
        ImageDraw.Draw(image).line([(side * 0.3, side * 0.2), (side * 0.7, side * 0.2),
                                    (side * 0.45, side * 0.85)], fill=(0, 0, 0), width=side // 14)
    made = []
    for name, image, options in (("PNG", png, {}), ("JPEG", jpeg, {"quality": 1})):
        buffer = io.BytesIO()
        image.save(buffer, format=name, **options)
        made.append((f"{side}x{side} RGB {name} of noise, {buffer.tell():,} bytes",
                     buffer.getvalue()))
    return made


def memory_kb(pid: int) -> dict[str, int]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in kB (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return {key: int(re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)[1])
            for key in ("VmRSS", "VmHWM")}


def upload(host: str, port: int, body: bytes) -> int:
    """One POST /predict of `body` on a new connection: the answer's status."""
    connection = http.client.HTTPConnection(host, port, timeout=300)
    try:
        connection.request("POST", "/predict", body, {"Content-Type": "image/png"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def memory_attack(run: Path, uploads: int, rounds: int) -> dict:
    """A new `nnctl serve RUN` sent `uploads` large images at once (half PNG, half JPEG),
    `rounds` times: its resident memory before, at its peak, and a second after the last
    answer, in MB; the statuses of the answers (200, or 503 for one that waited too long for
    its turn to be decoded)."""
    images = attack_images()
    child, host, port = start_server(run, stderr=subprocess.DEVNULL)  # its log: the 503s
    try:
        upload(host, port, IMAGE.read_bytes())
        before = memory_kb(child.pid)["VmRSS"]
        statuses: list[int] = []
        for _ in range(rounds):
            bodies = [images[k % len(images)][1] for k in range(uploads)]
            with ThreadPoolExecutor(max_workers=uploads) as pool:
                statuses += pool.map(lambda body: upload(host, port, body), bodies)
        time.sleep(1.0)
        after = memory_kb(child.pid)
    finally:
        child.terminate()
        child.wait(30)
    return {"images": [name for name, _ in images], "uploads": uploads, "rounds": rounds,
            "before_mb": before / 1024, "peak_mb": after["VmHWM"] / 1024,
            "after_mb": after["VmRSS"] / 1024, "statuses": statuses}


def train_model(directory: Path) -> tuple[Path, list[str]]:
    """configs/default.yaml trained for one epoch into `directory`/run: (the run, the command)."""
    args = ["train", CONFIG, "--out", str(directory / "run"), "--quiet",
            "--set", "training.epochs=1"]
    log("training: nnctl " + " ".join(args))
    subprocess.run([sys.executable, "-m", "nnctl", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return directory / "run", ["nnctl", *["<tmpdir>/run" if a == str(directory / "run") else a
                                          for a in args]]


def start_server(run: Path, stderr: int | None = None) -> tuple[subprocess.Popen, str, int]:
    """`nnctl serve RUN --port 0` in a child process: (the child, its host, its port). Its log
    goes to `stderr` (default: this process's)."""
    child = subprocess.Popen([sys.executable, "-m", "nnctl", "serve", str(run), "--port", "0"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    line = child.stdout.readline()
    found = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
    if not found:
        child.kill()
        raise SystemExit(f"nnctl serve did not start: {line!r}")
    return child, found[1], int(found[2])


def post(host: str, port: int, path: str, body: bytes) -> float:
    """One POST on a new connection; its latency in seconds. Fails loudly on a non-200 answer."""
    start = time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.request("POST", path, body, {"Content-Type": "image/png"})
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    elapsed = time.perf_counter() - start
    if response.status != 200 or json.loads(answer).get("prediction") is None:
        raise SystemExit(f"POST {path}: {response.status} {answer[:200]!r}")
    return elapsed


def measure(host: str, port: int, path: str, body: bytes, requests: int,
            clients: int) -> dict:
    """`requests` POSTs from `clients` threads at once: throughput and latency percentiles."""
    latencies: list[float] = []
    lock = threading.Lock()
    shares = [requests // clients + (k < requests % clients) for k in range(clients)]

    def client(count: int) -> None:
        mine = [post(host, port, path, body) for _ in range(count)]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if len(latencies) != requests:
        raise SystemExit(f"only {len(latencies)} of {requests} requests were answered")
    cuts = statistics.quantiles(latencies, n=100)
    return {"path": path, "clients": clients, "requests": requests, "per_second": requests / wall,
            "median_ms": 1000 * statistics.median(latencies), "p95_ms": 1000 * cuts[94]}


def report(rows: list[dict], args: argparse.Namespace, network: str, trained: list[str] | None,
           started: str, loads: tuple[str, str], memory: dict | None = None) -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = (f"{network} (`{args.run}`)" if trained is None
             else f"{network}, trained for this benchmark: `{' '.join(trained)}`")
    facts = {
        "date": started,
        "machine": (f"{platform.platform()}; CPU: {cpu_model()}; {os.cpu_count()} cores "
                    f"({usable} usable); **shared with other work while measured**: load average "
                    f"(1, 5, 15 min) {loads[0]} at start, {loads[1]} at end"),
        "versions": (f"Python {platform.python_version()}; numpy {version('numpy')}; "
                     f"pillow {version('pillow')}"),
        "network": model,
        "images": (f"`{IMAGE.relative_to(ROOT)}` (a typeset 7), and a 7 drawn as on the page's "
                   f"280x280 canvas; the same image for every request of a row; {args.warmup} "
                   "untimed requests first"),
        "server": ("`nnctl serve RUN --port 0` in its own process (the standard library's "
                   "ThreadingHTTPServer, a thread per connection, at most 2 images prepared at a "
                   "time, in 2 threads of their own)"),
        "clients": ("threads of the benchmark's process on the same machine, a new connection "
                    "per request (the server closes each after its answer)"),
        "command": f"`python benchmarks/serve_bench.py {' '.join(sys.argv[1:])}`",
    }
    title = "# nnctl serve: POST /predict on loopback"
    lines = [("#" + title) if args.section else title, ""]
    lines += [f"- {name}: {text}" for name, text in facts.items()]
    lines += ["", ("| request | image | concurrent clients | requests | requests/s | "
                  "median latency | 95th percentile |"), "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| `POST {r['path']}` | {r['image']} | {r['clients']} | {r['requests']:,} | "
              f"{r['per_second']:.0f} | {r['median_ms']:.1f} ms | {r['p95_ms']:.1f} ms |"
              for r in rows]
    lines += ["", LATENCY_NOTE]
    if memory:
        lines += ["", *memory_table(memory)]
    return "\n".join(lines) + "\n"


def memory_table(memory: dict) -> list[str]:
    """The memory attack's result as Markdown lines."""
    statuses = memory["statuses"]
    answers = ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses)))
    rounds = "once" if memory["rounds"] == 1 else f"{memory['rounds']} times"
    return [
        (f"Memory: a new `nnctl serve` sent {memory['uploads']} large images at once, "
         f"{rounds} (answers: {answers}); the resident memory (RSS) of the "
         "whole server process, from /proc (VmRSS; VmHWM for the peak):"),
        "", "| images | RSS before | peak RSS | RSS a second after |", "|---|---:|---:|---:|",
        (f"| {'; '.join(memory['images'])} | {memory['before_mb']:.0f} MB | "
         f"{memory['peak_mb']:.0f} MB | {memory['after_mb']:.0f} MB |")]


LATENCY_NOTE = (
    "Latency counts the whole request as a client sees it: connecting, sending the PNG, decoding "
    "it, preparing it as `nnctl predict` does, the forward pass and the JSON answer. With more "
    "clients than the 2 cores, requests wait for each other, so latency grows while throughput "
    "levels off; the client threads share those cores with the server.")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="the run or checkpoint to serve (default: train "
                                      f"{CONFIG} for one epoch)")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per row")
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients, one row each")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests first")
    parser.add_argument("--uploads", type=int, default=12,
                        help="large images sent at once to measure memory (0: not measured)")
    parser.add_argument("--rounds", type=int, default=3, help="times the uploads are sent")
    parser.add_argument("--out", help="also write the Markdown report to this file")
    parser.add_argument("--section", action="store_true",
                        help="a section (## title) to append to docs/benchmarks.md (make bench)")
    args = parser.parse_args(argv)
    args.client_counts = [int(c) for c in args.clients.split(",")]
    if (args.requests < 1 or args.warmup < 0 or min(args.client_counts) < 1 or args.uploads < 0
            or args.rounds < 1):
        parser.error("--requests, --clients and --rounds must be positive, --warmup and "
                     "--uploads at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_before = "/".join(f"{v:.2f}" for v in os.getloadavg())
    typeset, canvas = IMAGE.read_bytes(), canvas_png()
    plan = [("/predict", f"{IMAGE.name}, {len(typeset):,} bytes", typeset, args.client_counts),
            ("/predict?explain=1", f"canvas, {len(canvas):,} bytes", canvas,
             args.client_counts[:1])]
    with tempfile.TemporaryDirectory(prefix="nnctl-serve-bench-") as tmp:
        run, trained = (Path(args.run), None) if args.run else train_model(Path(tmp))
        child, host, port = start_server(run)
        try:
            connection = http.client.HTTPConnection(host, port, timeout=30)
            connection.request("GET", "/model")
            network = json.loads(connection.getresponse().read())["network"]
            connection.close()
            for _ in range(args.warmup):
                post(host, port, "/predict", typeset)
            rows = []
            for path, image, body, counts in plan:
                for clients in counts:
                    log(f"POST {path}: {args.requests} requests from {clients} clients")
                    row = measure(host, port, path, body, args.requests, clients)
                    rows.append(dict(row, image=image))
        finally:
            child.terminate()
            child.wait(30)
        memory = None
        if args.uploads:
            log(f"memory: {args.uploads} large images at once, {args.rounds} times")
            memory = memory_attack(run, args.uploads, args.rounds)
    load_after = "/".join(f"{v:.2f}" for v in os.getloadavg())
    text = report(rows, args, network, trained, started, (load_before, load_after), memory)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

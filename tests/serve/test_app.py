"""`nnctl serve`'s HTTP API over real HTTP on 127.0.0.1: answers equal to `nnctl predict --json`,
every bad request refused with a 4xx JSON error while the server goes on serving, 200 requests at
once, slow clients cut off, and the command itself (URL, warning, signals, nothing written)."""

from __future__ import annotations

import io
import json
import re
import select
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from serving import post_image, request, running_server

from nnctl.cli import cli
from nnctl.core.activations import ACTIVATIONS
from nnctl.figures.weights import tile
from nnctl.io.checkpoint import load_checkpoint
from nnctl.io.config import DataConfig, config_from_dict
from nnctl.io.examples import data_paths
from nnctl.io.idx import read_examples
from nnctl.io.images import read_image
from nnctl.serve import app
from nnctl.serve.model import TOP_UNITS
from nnctl.tasks.predict import preprocess
from nnctl.tasks.train import train

ROOT = Path(__file__).resolve().parents[2]
OWN_DIGITS = [ROOT / "data" / "own-digits" / f"{d}-DejaVuSans.png" for d in range(10)]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    """Typeset digits of data/own-digits, and MNIST test digits saved as a user would bring them:
    PNG black on white, JPEG, RGBA with transparency, a palette GIF."""
    directory = tmp_path_factory.mktemp("images")
    paths = data_paths(DataConfig())
    pixels, _ = read_examples(paths["test_images"], paths["test_labels"])
    files = list(OWN_DIGITS)
    for i, digit in enumerate(pixels[:12]):
        image = Image.fromarray(255 - digit)
        kind = ("png", "jpg", "rgba.png", "gif")[i % 4]
        if kind == "rgba.png":
            image = Image.new("RGBA", image.size, (0, 0, 0, 0))
            image.putalpha(Image.fromarray(digit))
        path = directory / f"mnist-{i}.{kind}"
        image.save(path)
        files.append(path)
    return files


@pytest.fixture(scope="module")
def server(digit_reader):
    with running_server(digit_reader) as (url, log):
        yield url, log


@pytest.fixture(scope="module")
def expected(digit_reader, images) -> dict[Path, dict]:
    """`nnctl predict RUN FILE --json` of each image, one command per file."""
    answers = {}
    for path in images:
        done = CliRunner().invoke(cli, ["predict", str(digit_reader), str(path), "--json"])
        assert done.exit_code == 0, done.output
        answers[path] = json.loads(done.stdout)
    return answers


@pytest.mark.slow
def test_predict_answers_what_predict_json_prints(server, images, expected):
    url, log = server
    for path in images:
        status, answer = post_image(f"{url}predict?name={path}", path.read_bytes())
        assert status == 200, answer
        assert answer == expected[path]
    # without ?name= the file is "upload"; any image/... type and octet-stream are accepted
    status, answer = post_image(f"{url}predict", images[0].read_bytes(),
                                content_type="application/octet-stream")
    assert status == 200 and answer == dict(expected[images[0]], file="upload")
    status, answer = post_image(f"{url}predict", images[0].read_bytes(), content_type="image/jpeg")
    assert status == 200 and answer["prediction"] == expected[images[0]]["prediction"]
    assert sum(answer["prediction"] == d for d, answer in
               enumerate(expected[p] for p in OWN_DIGITS)) >= 8  # the model reads typeset digits
    assert log == []


def test_explain_adds_what_the_network_saw_and_its_hidden_units(server, digit_reader, images,
                                                                expected):
    url, _ = server
    network, _ = load_checkpoint(digit_reader / "checkpoints" / "best.npz")
    path = images[3]
    status, answer = post_image(f"{url}predict?explain=1&name={path}", path.read_bytes())
    assert status == 200
    assert {k: answer[k] for k in expected[path]} == expected[path]
    assert set(answer) == set(expected[path]) | {"seen", "units"}
    x = preprocess(read_image(path), (28, 28))
    np.testing.assert_allclose(np.array(answer["seen"]), x, atol=6e-4)  # 3 decimals
    z = network.weights[0].astype(np.float64) @ x.ravel() + network.biases[0]
    top = np.argsort(-z)[:TOP_UNITS]
    assert [u["unit"] for u in answer["units"]] == top.tolist()
    a = ACTIVATIONS[network.activation](z)
    np.testing.assert_allclose([u["activation"] for u in answer["units"]], a[top], rtol=1e-5)
    np.testing.assert_allclose([u["score"] for u in answer["units"]], z[top], rtol=1e-5)


def test_a_single_layer_answers_its_templates_scores(tmp_path):
    config = config_from_dict({"model": {"hidden": [], "init": {"scheme": "zeros"}},
                               "training": {"epochs": 1, "learning_rate": 0.01},
                               "data": {"limit": 3000, "validation": 500}}, "single")
    train(config, tmp_path / "single")
    network, _ = load_checkpoint(tmp_path / "single" / "checkpoints" / "best.npz")
    with running_server(tmp_path / "single") as (url, _):
        status, answer = post_image(f"{url}predict?explain=1", OWN_DIGITS[7].read_bytes())
        _, _, body = request(f"{url}model")
    assert status == 200
    x = preprocess(read_image(OWN_DIGITS[7]), (28, 28)).ravel()
    z = network.logits(x[None].astype(network.dtype))[0]  # w_k . x + b_k
    scores = [u["score"] for u in answer["units"]]
    assert [u["unit"] for u in answer["units"]] == list(range(10))
    np.testing.assert_allclose(scores, z, rtol=1e-4, atol=1e-5)
    assert answer["prediction"] == int(np.argmax(scores))
    summary = json.loads(body)
    assert summary["units"] == "templates" and summary["network"] == "784-10"


def test_model_summary(server, digit_reader):
    url, _ = server
    status, headers, body = request(f"{url}model")
    assert status == 200 and headers["Content-Type"] == "application/json"
    summary = json.loads(body)
    recorded = json.loads((digit_reader / "summary.json").read_text())
    assert summary["run"] == "digit-reader"
    assert summary["network"] == "784-100-10" and summary["sizes"] == [784, 100, 10]
    assert summary["test_accuracy"] == pytest.approx(recorded["test_accuracy"])
    assert summary["epoch"] == recorded["best_epoch"]
    assert summary["units"] == "filters" and summary["image_shape"] == [28, 28]


def test_an_epoch_checkpoint_has_no_recorded_test_accuracy(digit_reader):
    with running_server(digit_reader / "checkpoints" / "epoch-001.npz") as (url, _):
        summary = json.loads(request(f"{url}model")[2])
    assert summary["run"] == "digit-reader" and summary["epoch"] == 1
    assert summary["test_accuracy"] is None and summary["val_accuracy"] is not None


def test_the_page_and_its_files_come_from_nnctl(server):
    url, _ = server
    kinds = {"": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
    for name, kind in kinds.items():
        status, headers, body = request(f"{url}{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind)
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert b"://" not in body  # nothing loaded from elsewhere: works offline
    page = request(url)[2].decode()
    assert 'id="prediction"' in page and 'id="canvas"' in page and "/app.js" in page


def test_weights_are_drawn_as_inspect_weights_draws_them(server, digit_reader):
    url, _ = server
    network, _ = load_checkpoint(digit_reader / "checkpoints" / "best.npz")
    status, headers, body = request(f"{url}weights/42.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    drawn = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    np.testing.assert_array_equal(drawn, np.asarray(tile(network.weights[0][42], (28, 28), 4)))
    status, _, body = request(f"{url}weights/100.png")
    assert status == 404 and "units 0..99" in json.loads(body)["error"]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb() -> bytes:
    """A PNG of a few kB declaring 5000 x 5000 pixels."""
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000), 255).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _raw(url: str, data: bytes, shut: bool = False) -> tuple[int, dict]:
    """Send `data` as it is over a socket (and close the sending side if `shut`); the answer."""
    host, port = re.match(r"http://([\d.]+):(\d+)/", url).groups()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _post_head(length: str | None, extra: str = "") -> bytes:
    declared = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
            f"{declared}{extra}"
            "\r\n").encode()


BAD_REQUESTS = {
    # name: (how to send it, expected status, words of the error)
    "wrong content type": (lambda u, d: post_image(f"{u}predict", d, content_type="text/plain"),
                           415, "Content-Type text/plain"),
    "no content type": (lambda u, d: _raw(u, "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             f"Content-Length: {len(d)}\r\n\r\n".encode() + d),
                        415, "Content-Type (none)"),
    "form content type": (lambda u, d: post_image(
        f"{u}predict", d, content_type="application/x-www-form-urlencoded"), 415, "image/png"),
    "empty body": (lambda u, d: post_image(f"{u}predict", b""), 400, "empty"),
    "not an image": (lambda u, d: post_image(f"{u}predict", (ROOT / "README.md").read_bytes()),
                     400, "upload: not an image"),
    "truncated image": (lambda u, d: post_image(f"{u}predict?name=cut.png", d[: len(d) // 2]),
                        400, "cut.png: not an image"),
    "blank image": (lambda u, d: post_image(f"{u}predict", _png(np.full((50, 50), 255, np.uint8))),
                    400, "no digit found"),
    "huge dimensions": (lambda u, d: post_image(f"{u}predict", _bomb()), 400, "too many pixels"),
    "too large, sent": (lambda u, d: post_image(f"{u}predict", b"\x89PNG" + bytes(3 << 20)), 413,
                        "at most 2,097,152"),
    "too large, asked first": (lambda u, d: _raw(u, _post_head(
        str(3 << 20), "Expect: 100-continue\r\n")), 413, "3,145,728 bytes"),
    "missing length": (lambda u, d: _raw(u, _post_head(None) + d, shut=True), 411,
                       "Content-Length is missing"),
    "length not a number": (lambda u, d: _raw(u, _post_head("12x") + d, shut=True), 400,
                            "is not a number"),
    "negative length": (lambda u, d: _raw(u, _post_head("-5") + d, shut=True), 400,
                        "is not a number"),
    "length in other digits (latin-1 superscript two)": (lambda u, d: _raw(
        u, _post_head("12").replace(b"Length: 12", b"Length: \xb2") + d, shut=True), 400,
        "is not a number"),
    "length in other digits, asked first": (lambda u, d: _raw(u, _post_head(
        "12", "Expect: 100-continue\r\n").replace(b"Length: 12", b"Length: \xb2")), 400,
        "is not a number"),
    "chunked": (lambda u, d: _raw(u, _post_head(None, "Transfer-Encoding: chunked\r\n")
                                  + b"0\r\n\r\n", shut=True), 411, "Content-Length"),
    "body shorter than declared": (lambda u, d: _raw(u, _post_head(str(len(d) + 100)) + d,
                                                     shut=True), 400, "ended after"),
    "unknown parameter": (lambda u, d: post_image(f"{u}predict?sneaky=1", d), 400, "'sneaky'"),
    "name with a newline": (lambda u, d: post_image(f"{u}predict?name=a%0Ab", d), 400, "name"),
    "unknown page": (lambda u, d: post_image(f"{u}upload", d), 404, "POST images to /predict"),
    "GET /predict": (lambda u, d: post_image(f"{u}predict", None), 405, "POST the bytes"),
    "DELETE": (lambda u, d: post_image(f"{u}predict", d, method="DELETE"), 405, "DELETE"),
    "another host's name (DNS rebinding)": (lambda u, d: _raw(
        u, b"GET /model HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n"), 403, "not this server"),
    "garbage request line": (lambda u, d: _raw(u, b"\x00\x01 nonsense\r\n\r\n"), 400, "request"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_a_bad_request_gets_a_4xx_json_error_and_the_server_goes_on(name, server, images,
                                                                     expected, capfd):
    url, log = server
    send, status, words = BAD_REQUESTS[name]
    good = images[0].read_bytes()
    log.clear()
    got_status, answer = send(url, good)
    assert got_status == status, answer
    assert set(answer) == {"error"} and words in answer["error"], answer
    assert len(log) == 1 and str(status) in log[0] and "\n" not in log[0], log
    assert post_image(f"{url}predict?name={images[0]}", good) == (200, expected[images[0]])
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_asks_before_sending_is_told_to_go_on(server, images, expected):
    """curl sends `Expect: 100-continue` before a body above 1 MB and waits for the answer."""
    url, _ = server
    path = images[2]
    data = path.read_bytes()
    host, port = re.match(r"http://([\d.]+):(\d+)/", url).groups()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(_post_head(str(len(data)), "Expect: 100-continue\r\n").replace(
            b"/predict", f"/predict?name={path}".encode(), 1))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == expected[path]


def test_200_requests_at_once_are_all_answered_correctly(server, images, expected):
    url, log = server
    log.clear()
    jobs = [images[i % len(images)] for i in range(200)]

    def ask(path: Path) -> tuple[Path, int, dict]:
        return (path, *post_image(f"{url}predict?name={path}", path.read_bytes()))

    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(ask, jobs))
    assert [(status, answer) for _, status, answer in answers] == [
        (200, expected[path]) for path in jobs]
    assert log == []


@pytest.mark.slow
def test_a_slow_client_is_cut_off_and_others_are_served(digit_reader, monkeypatch, images):
    monkeypatch.setattr(app, "CONNECTION_SECONDS", 2.0)  # for the whole connection
    monkeypatch.setattr(app, "REAP_SECONDS", 0.2)
    with running_server(digit_reader, read_seconds=1.0) as (url, log):  # for any one read
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port)) as silent, \
                socket.create_connection(("127.0.0.1", port)) as stalled, \
                socket.create_connection(("127.0.0.1", port)) as dripping:
            stalled.sendall(_post_head("1000") + b"\x89PNG")  # then nothing more of the body
            # one byte every 0.1 s: each read is in time, the whole request is not
            cut_after = _drip(dripping, _post_head("100000"), every=0.1)
            assert cut_after is not None and 1.7 < cut_after < 5, cut_after
            silent.settimeout(5)  # closed after a second without a request
            assert silent.recv(100) == b""
            stalled.settimeout(5)  # told after a second without the rest of its body
            assert stalled.recv(100).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert post_image(f"{url}predict", images[0].read_bytes())[0] == 200
    assert sum("Request timed out" in line for line in log) == 1, log  # the silent one
    assert sum(" 408 the body stopped after 4 of the 1,000 bytes" in line for line in log) == 1
    assert any("connection ended" in line for line in log), log  # the dripping one, cut
    assert not any(" 500 " in line for line in log), log


def _drip(sock: socket.socket, data: bytes, every: float) -> float | None:
    """Send `data` a byte at a time; the seconds until the server closed the connection (or
    answered), None if it waited for all of it."""
    start = time.monotonic()
    for byte in data:
        if select.select([sock], [], [], every)[0]:
            return time.monotonic() - start
        try:
            sock.send(bytes([byte]))
        except OSError:
            return time.monotonic() - start
    return None


# ---------------------------------------------------------------------------- the command


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nnctl", "serve", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _url(child: subprocess.Popen) -> str:
    line = child.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, (line, child.stderr.read() if child.poll() is not None else "")
    return found[0]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_command_serves_until_a_signal_and_writes_nothing(signum, digit_reader, tmp_path,
                                                              images, expected):
    from conftest import snapshot

    before = snapshot(digit_reader)
    work = tmp_path / "cwd"
    work.mkdir()
    child = _start(work, str(digit_reader), "--port", "0")
    try:
        url = _url(child)
        path = images[1]
        assert post_image(f"{url}predict?name={path}", path.read_bytes()) == (200, expected[path])
        assert post_image(f"{url}predict", b"junk")[0] == 400
        child.send_signal(signum)
        _, err = child.communicate(timeout=10)
    finally:
        child.kill()
    assert child.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    name = signal.Signals(signum).name
    assert err.splitlines()[-1] == f"{name}: stopped serving {digit_reader}"
    assert "Traceback" not in err and "warning" not in err
    assert list(work.iterdir()) == [] and snapshot(digit_reader) == before


def test_a_host_other_than_loopback_is_warned_about(digit_reader, tmp_path):
    # 192.0.2.1 (TEST-NET-1) belongs to no machine: the warning comes, then no server starts
    done = subprocess.run([sys.executable, "-m", "nnctl", "serve", str(digit_reader), "--host",
                           "192.0.2.1", "--port", "0"], capture_output=True, text=True,
                          timeout=30, check=False)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 2, done.stderr
    assert lines[0].startswith("warning: --host 192.0.2.1 is not loopback")
    assert lines[1].startswith("Error: cannot listen on 192.0.2.1:0: ")
    assert all(map(app.is_loopback, ("127.0.0.1", "127.0.0.2", "::1", "localhost")))
    assert not any(map(app.is_loopback, ("0.0.0.0", "::", "192.168.1.2", "example.org")))


def test_a_port_in_use_and_a_bad_target_are_one_line_errors(run, digit_reader, tmp_path):
    from conftest import assert_one_line_error

    with running_server(digit_reader) as (url, _):
        port = url.rsplit(":", 1)[1].strip("/")
        assert_one_line_error(run("serve", digit_reader, "--port", port), 1,
                              f"cannot listen on 127.0.0.1:{port}", "--port 0")
    assert_one_line_error(run("serve", tmp_path / "nothing", "--port", "0"), 1, "nothing")
    assert run("serve", digit_reader, "--port", "70000").exit_code == 2


@pytest.mark.slow
def test_the_serve_benchmark_runs_and_reports(digit_reader, tmp_path):
    out = tmp_path / "serve-benchmark.md"
    done = subprocess.run([sys.executable, "benchmarks/serve_bench.py", "--run", str(digit_reader),
                           "--requests", "20", "--clients", "1,3", "--warmup", "2",
                           "--uploads", "2", "--rounds", "1", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert report == done.stdout
    rows = [line for line in report.splitlines() if line.startswith("| `POST")]
    assert [row.split(" | ")[2:4] for row in rows] == [["1", "20"], ["3", "20"], ["1", "20"]]
    assert "784-100-10" in report and "shared with other work" in report
    assert "sent 2 large images at once, once (answers: 2 x 200)" in report
    assert re.search(r"\| 4096x4096 RGB PNG .* \| \d+ MB \| \d+ MB \| \d+ MB \|", report)


def test_a_signal_while_a_connection_thread_starts_stops_the_server(digit_reader, monkeypatch):
    """SIGTERM landing in Thread.start() after the connection's thread began (seen under load):
    the stop goes through, and the thread alone gives its place back. It used to be given back
    twice, and the ValueError that raised took the place of the stop: the server went on."""
    import threading

    from nnctl.serve.model import load_model

    class Stop(BaseException):
        pass

    server = app.make_server(load_model(digit_reader), "127.0.0.1", 0, log=lambda line: None)
    try:
        client = socket.create_connection(server.server_address[:2])
        client.sendall(b"GET /model HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        connection, address = server.socket.accept()
        start = threading.Thread.start

        def start_then_signal(thread):
            start(thread)
            thread.join(30)  # the connection is served, its place given back...
            raise Stop  # ...and then the signal handler raises in the main thread

        monkeypatch.setattr(threading.Thread, "start", start_then_signal)
        with pytest.raises(Stop):
            server.process_request(connection, address)
        monkeypatch.undo()
        assert client.recv(12) == b"HTTP/1.1 200"
        client.close()
        places = [server.slots.acquire(blocking=False) for _ in range(app.MAX_CONNECTIONS + 1)]
        assert places == [True] * app.MAX_CONNECTIONS + [False]  # each place given back once
    finally:
        server.server_close()

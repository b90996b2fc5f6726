"""`nnctl serve` against requests built to be read two ways, and against large images sent many
at once (issue 19, items 12 and 17).

Item 12: a header section RFC 9112 asks a server to refuse (two Host or Content-Length lines, a
list as Content-Length, Content-Length beside Transfer-Encoding, a malformed or folded line, no
Host in HTTP/1.1) gets a 400 JSON answer before any of its body is read; a client that stops in
the middle of its header lines or its body gets a 408 JSON answer after the read timeout, not a
silent close. Sent over raw sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from serving import post_image, running_server

ROOT = Path(__file__).resolve().parent.parent
SEVEN = ROOT / "data" / "own-digits" / "7-DejaVuSans.png"
READ_SECONDS = 0.3  # the test server's read timeout: a 408 comes this soon


@pytest.fixture(scope="module")
def server(digit_reader):
    with running_server(digit_reader, read_seconds=READ_SECONDS) as (url, log):
        yield int(url.rsplit(":", 1)[1].strip("/")), url, log


def _exchange(port: int, data: bytes, then: bytes | None = None) -> tuple[bytes, bytes]:
    """Send `data` over a new connection (and `then` after the first answer's status line, if
    it is 100 Continue); (the status line, the rest of the answer) when the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if then is not None and answer == b"HTTP/1.1 100 Continue\r\n\r\n":
                sock.sendall(then)
    status, _, rest = answer.partition(b"\r\n")
    return status, rest


def _answer(port: int, data: bytes) -> tuple[int, dict]:
    """(status, the JSON answer) of `data` sent as it is."""
    status, rest = _exchange(port, data)
    return int(status.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _post(headers: str, body: bytes = b"") -> bytes:
    """POST /predict with `headers` (each ending in CRLF) after a Content-Type, then `body`."""
    return (f"POST /predict HTTP/1.1\r\nContent-Type: image/png\r\n{headers}\r\n").encode() + body


PNG = SEVEN.read_bytes()
N = len(PNG)
SMUGGLING = {
    # name: (the request, words of its 400 error)
    "two Host lines, another server second": (
        b"GET /model HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n",
        "Host is given more than once"),
    "two Host lines, another server first": (
        b"GET /model HTTP/1.1\r\nHost: attacker.example\r\nHost: 127.0.0.1\r\n\r\n",
        "Host is given more than once"),
    "two equal Host lines": (b"GET /model HTTP/1.1\r\nHost: 127.0.0.1\r\nhost: 127.0.0.1\r\n\r\n",
                             "Host is given more than once"),
    "no Host in HTTP/1.1": (b"GET /model HTTP/1.1\r\n\r\n", "Host is missing"),
    "two Content-Length lines, the image's first": (
        _post(f"Host: 127.0.0.1\r\nContent-Length: {N}\r\nContent-Length: 10\r\n", PNG),
        "Content-Length is given more than once"),
    "two Content-Length lines, the image's second": (
        _post(f"Host: 127.0.0.1\r\nContent-Length: 10\r\nContent-Length: {N}\r\n", PNG),
        "Content-Length is given more than once"),
    "two equal Content-Length lines": (
        _post(f"Host: 127.0.0.1\r\nContent-Length: {N}\r\nContent-Length: {N}\r\n", PNG),
        "Content-Length is given more than once"),
    "two Content-Length lines on a GET": (
        b"GET /model HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
        "Content-Length is given more than once"),
    "Content-Length as a list": (_post(f"Host: 127.0.0.1\r\nContent-Length: {N}, {N}\r\n", PNG),
                                 f"Content-Length '{N}, {N}' is not a number"),
    "Content-Length and Transfer-Encoding": (
        _post(f"Host: 127.0.0.1\r\nContent-Length: {N}\r\nTransfer-Encoding: chunked\r\n",
              b"0\r\n\r\n"), "both Transfer-Encoding and Content-Length"),
    "Content-Length and Transfer-Encoding, asked first": (
        _post(f"Host: 127.0.0.1\r\nContent-Length: {N}\r\nTransfer-Encoding: chunked\r\n"
              "Expect: 100-continue\r\n"), "both Transfer-Encoding and Content-Length"),
    "two Content-Length lines, asked first": (
        _post(f"Host: 127.0.0.1\r\nContent-Length: {N}\r\nContent-Length: 10\r\n"
              "Expect: 100-continue\r\n"), "Content-Length is given more than once"),
    "two Host lines, asked first": (
        _post(f"Host: 127.0.0.1\r\nHost: attacker.example\r\nContent-Length: {N}\r\n"
              "Expect: 100-continue\r\n"), "Host is given more than once"),
    "a space before the colon of Content-Length": (
        _post(f"Host: 127.0.0.1\r\nContent-Length : {N}\r\n", PNG), "header line is malformed"),
    "a space before the colon of Host": (
        b"GET /model HTTP/1.1\r\nHost : attacker.example\r\n\r\n", "header line is malformed"),
    "a header folded over two lines": (
        _post(f"Host: 127.0.0.1\r\nContent-Length:\r\n {N}\r\n", PNG), "folded over lines"),
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_a_request_that_could_be_read_two_ways_is_refused(name, server, capfd):
    port, url, log = server
    request, words = SMUGGLING[name]
    log.clear()
    status, rest = _exchange(port, request, then=PNG)
    assert status == b"HTTP/1.1 400 Bad Request", (status, rest)  # never 100 Continue first
    answer = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert set(answer) == {"error"} and words in answer["error"], answer
    assert len(log) == 1 and " 400 " in log[0] and words in log[0], log
    assert post_image(f"{url}predict", PNG)[0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_one_host_and_one_length_are_served(server):
    """The neighbours that stay valid: HTTP/1.0 without Host, one Content-Length with spaces
    around it, a Host of another case."""
    port, _, _ = server
    assert _answer(port, b"GET /model HTTP/1.0\r\n\r\n")[0] == 200
    assert _answer(port, b"GET /model HTTP/1.1\r\nhOsT: localhost\r\n\r\n")[0] == 200
    status, answer = _answer(port, _post(f"Host: 127.0.0.1\r\nContent-Length:  {N} \r\n", PNG))
    assert (status, answer["prediction"]) == (200, 7)


@pytest.mark.parametrize("sent, words", [
    (_post("Host: 127.0.0.1\r\nContent-Length: 1000\r\n", PNG[:40]),
     "the body stopped after 40 of the 1,000 bytes declared: nothing for 0.3 s"),
    (_post(f"Host: 127.0.0.1\r\nContent-Length: {N}\r\n"), f"stopped after 0 of the {N} bytes"),
    (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n",
     "the header lines stopped coming: nothing for 0.3 s"),
], ids=["part of the body", "none of the body", "part of the header lines"])
def test_a_client_that_stops_sending_gets_a_408(sent, words, server, capfd):
    """The client keeps its connection open and waits: after the read timeout it is told."""
    port, url, log = server
    log.clear()
    status, answer = _answer(port, sent)
    assert status == 408 and set(answer) == {"error"} and words in answer["error"], answer
    assert len(log) == 1 and " 408 " in log[0], log
    assert post_image(f"{url}predict", PNG)[0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_closes_early_still_gets_a_400(server):
    """A body cut short by the client closing its side is told at once (not after a timeout)."""
    port, _, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_post("Host: 127.0.0.1\r\nContent-Length: 1000\r\n", PNG[:40]))
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"ended after 40 of the 1,000 bytes" in answer

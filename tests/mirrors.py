"""A local download mirror on 127.0.0.1 for the `data fetch` tests: it serves test files well or
badly (a 404, a truncated body, a stall, a trickle) and records what clients asked for and which
answers a client gave up before they were complete (`abandoned`), so that a test can tell that a
timeout or a deadline cut a download short without timing it.
"""

from __future__ import annotations

import contextlib
import http.server
import select
import socket
import threading
import time
from collections.abc import Iterator

from nnctl.io.examples import STANDARD_NAMES

GZ_NAMES = {key: stem + ".gz" for key, stem in STANDARD_NAMES.items()}
HOLD_SECONDS = 120  # a stall lasts this long at most (a test ends it sooner by releasing it)
TRICKLE_SECONDS = 0.05  # between two bytes of a trickle


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.routes[path] = (behaviour, bytes or status); anything else is a 404.

    Behaviours: ok, status (the payload is the code), truncate (promise all, send half, hang up),
    stall (no answer at all), stall_body (a third of the body, then silence), trickle (the body a
    byte at a time), trickle_headers (endless headers a byte at a time).
    """

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        kind, payload = server.routes.get(self.path, ("status", 404))
        try:
            if kind == "status":
                self.send_error(payload)
            elif kind == "stall":
                self._hold()
            elif kind == "trickle_headers":
                self.wfile.write(b"HTTP/1.0 200 OK\r\n")
                self._trickle(b"X-Slow: " + b"a" * 60000)
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self._body(kind, payload)
        except OSError:  # the client hung up while we wrote
            server.abandoned.append(self.path)

    def _body(self, kind: str, payload: bytes) -> None:
        if kind == "truncate":
            self.wfile.write(payload[: len(payload) // 2])
        elif kind == "stall_body":
            self.wfile.write(payload[: len(payload) // 3])
            self.wfile.flush()
            self._hold()
        elif kind == "trickle":
            self._trickle(payload)
        else:
            self.wfile.write(payload)

    def _hold(self) -> None:
        """Say nothing more until the test releases us or the client hangs up (recorded)."""
        deadline = HOLD_SECONDS
        while deadline > 0 and not self.server.release.is_set():
            readable = select.select([self.connection], [], [], 0.05)[0]
            if readable and not self.connection.recv(1, socket.MSG_PEEK):  # hung up
                self.server.abandoned.append(self.path)
                return
            deadline -= 0.05

    def _trickle(self, data: bytes) -> None:
        for byte in data:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            if self.server.release.wait(TRICKLE_SECONDS):
                return

    def log_message(self, *args):
        pass


class Mirror:
    def __init__(self, server):
        self.server = server
        self.routes = server.routes
        self.requests = server.requests
        self.abandoned = server.abandoned
        self.base = f"http://127.0.0.1:{server.server_address[1]}"

    def serve(self, prefix: str, files: dict[str, bytes], kind: str = "ok", only=None) -> str:
        """Route /prefix/<name> for each file (or `only` these keys); the mirror's base URL."""
        for key, data in files.items():
            if only is None or key in only:
                self.routes[f"/{prefix}/{GZ_NAMES[key]}"] = (kind, data)
        return f"{self.base}/{prefix}/"

    def gave_up(self, prefix: str, count: int, seconds: float = 30) -> list[str]:
        """The paths below /prefix/ whose answers a client hung up on before they were done,
        once there are `count` of them (the server notices a hang-up a moment after it happens;
        it is given up to `seconds` for that, then the list is returned as it stands)."""
        def paths() -> list[str]:
            return sorted({path for path in self.abandoned if path.startswith(f"/{prefix}/")})

        end = time.monotonic() + seconds
        while len(paths()) < count and time.monotonic() < end:
            time.sleep(0.02)
        return paths()


@contextlib.contextmanager
def serving() -> Iterator[Mirror]:
    """A local mirror on 127.0.0.1, for the block."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True  # a stalled handler never holds up the teardown
    server.routes, server.requests, server.abandoned = {}, [], []
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield Mirror(server)
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)

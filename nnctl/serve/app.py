"""`nnctl serve`: the page and its HTTP API, on the standard library's threading HTTP server.

Routes (every answer but the page's own files and the weight pictures is JSON):

    GET  /                  the page (static/index.html), /app.js, /style.css
    GET  /model             the model summary (run, network, test accuracy...)
    GET  /weights/<k>.png   the first-layer weights of unit k, as inspect-weights draws them
    POST /predict           the bytes of an image -> the object `nnctl predict --json` prints;
                            ?name=N sets its "file" (default "upload"); ?explain=1 adds what the
                            page shows: "seen" (the network's input) and "units"

Every request is bounded: one request per connection, at most MAX_CONNECTIONS handled at once
(more wait in the listen queue), SOCKET_SECONDS for any read or write and CONNECTION_SECONDS
for the whole connection, a body of at most MAX_BODY bytes declared by Content-Length before it
is read, and PREPARING images decoded and prepared at a time, in PREPARING threads of their own
(`nnctl.io.images` decodes a large image reduced, and one at a time: the largest image it takes,
4096 x 4096, then needs tens of MB instead of about 450, and a server sent many at once stays
within a few hundred MB). A request waits SOCKET_SECONDS for its turn, then gets a 503. A bad
request gets a 4xx answer {"error": "..."} and one line in the log, never a traceback. Nothing is
written to disk.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from nnctl.errors import Interrupted, NnctlError, one_line, signals_to
from nnctl.io.records import dumps
from nnctl.serve.model import Model, classify, explain, load_model, weight_png

MAX_BODY = 2 << 20  # bytes of an uploaded image
DRAIN_LIMIT = 8 * MAX_BODY  # a refused body up to this size is read and dropped before closing
MAX_CONNECTIONS = 32
LISTEN_QUEUE = 128
SOCKET_SECONDS = 10.0
CONNECTION_SECONDS = 30.0
REAP_SECONDS = 1.0  # how often connections past CONNECTION_SECONDS are looked for
PREPARING = 2
MAX_NAME = 255  # characters of ?name=
JSON = "application/json"
# The page's own files, by path: (file in static/, content type).
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
WEIGHTS = re.compile(r"/weights/(\d{1,7})\.png")
# The page loads nothing from elsewhere (works offline) and runs no inline script.
SECURITY = {"Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
            "Connection": "close"}


class HttpError(Exception):
    """A request refused with `status` and a one-line `message`."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Server(ThreadingHTTPServer):
    """A thread per connection, at most MAX_CONNECTIONS at once; each connection is shut down
    after CONNECTION_SECONDS, however slowly its client sends."""

    daemon_threads = True
    request_queue_size = LISTEN_QUEUE

    def __init__(self, address: tuple, family: int, model: Model,
                 log: Callable[[str], None], host: str, read_seconds: float = SOCKET_SECONDS):
        self.address_family = family
        self.model, self.log, self.host = model, log, host
        self.read_seconds = read_seconds  # for any one read or write of a connection
        self.files = {path: resources.files("nnctl.serve").joinpath("static", name).read_bytes()
                      for path, (name, _) in STATIC.items()}
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.preparing = threading.BoundedSemaphore(PREPARING)
        # Images are decoded and prepared in these threads only, not in the connection's own:
        # glibc's malloc gives each thread an arena that keeps memory freed in it, so that 32
        # connection threads that each once prepared a large image would hold hundreds of MB.
        self.preparers = ThreadPoolExecutor(PREPARING, thread_name_prefix="nnctl-prepare")
        self.deadlines: dict[socket.socket, float] = {}
        self.deadlines_lock = threading.Lock()
        self.closing = threading.Event()
        super().__init__(address, Handler)
        threading.Thread(target=self._shut_late_connections, daemon=True).start()

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # not HTTPServer's: no reverse DNS lookup
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def process_request(self, request, client_address) -> None:
        self.slots.acquire()
        try:
            super().process_request(request, client_address)
        except Exception:  # no thread could be started: its place is free again
            self.slots.release()
            raise
        # Not on SIGINT or SIGTERM (_Stop, a BaseException): the signal may land in
        # Thread.start() after the thread began, and that thread gives its place back itself.
        # Releasing it here as well raised "Semaphore released too many times", an Exception
        # that took the place of the stop: the server went on serving.

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address) -> None:
        """A connection that failed (the client went away, a timeout): one line, no traceback."""
        error = sys.exc_info()[1]
        self.log(f"{client_address[0]}: connection ended: {one_line(error)}")

    def watch(self, connection: socket.socket) -> None:
        with self.deadlines_lock:
            self.deadlines[connection] = time.monotonic() + CONNECTION_SECONDS

    def unwatch(self, connection: socket.socket) -> None:
        with self.deadlines_lock:
            self.deadlines.pop(connection, None)

    def _shut_late_connections(self) -> None:
        while not self.closing.wait(REAP_SECONDS):
            now = time.monotonic()
            with self.deadlines_lock:
                late = [c for c, deadline in self.deadlines.items() if deadline < now]
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)  # its thread's read or write ends
                except OSError:
                    pass

    def server_close(self) -> None:
        self.closing.set()
        self.preparers.shutdown(wait=False)
        super().server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "nnctl-serve"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # for Expect: 100-continue; every answer closes the connection
    default_request_version = "HTTP/1.0"  # a malformed request line gets a status line too
    def setup(self) -> None:
        self.timeout = self.server.read_seconds  # set on the socket by StreamRequestHandler
        super().setup()
        self.server.watch(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.unwatch(self.connection)

    def do_GET(self) -> None:
        self._respond(self._get)

    def do_HEAD(self) -> None:
        self._respond(self._get)

    def do_POST(self) -> None:
        self._respond(self._post)

    # ------------------------------------------------------------------ routes

    def _get(self, path: str, query: dict) -> tuple[int, str, bytes]:
        if path in (*STATIC, "/model") or WEIGHTS.fullmatch(path):
            _no_parameters(query)
        if path in STATIC:
            return HTTPStatus.OK, STATIC[path][1], self.server.files[path]
        if path == "/model":
            return HTTPStatus.OK, JSON, json_bytes(self.server.model.summary)
        if path == "/favicon.ico":  # browsers ask for it; there is none
            return HTTPStatus.NO_CONTENT, "image/x-icon", b""
        unit = WEIGHTS.fullmatch(path)
        if unit:
            try:
                return HTTPStatus.OK, "image/png", weight_png(self.server.model, int(unit[1]))
            except NnctlError as e:
                raise HttpError(HTTPStatus.NOT_FOUND, str(e)) from None
        if path == "/predict":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED,
                            "POST the bytes of an image to /predict (GET /model for the model)")
        raise HttpError(HTTPStatus.NOT_FOUND, f"no page {path}: see / or /model or POST /predict")

    def _post(self, path: str, query: dict) -> tuple[int, str, bytes]:
        if path != "/predict":
            raise HttpError(HTTPStatus.NOT_FOUND if path not in (*STATIC, "/model")
                            else HTTPStatus.METHOD_NOT_ALLOWED, f"{path}: nothing to POST here; "
                            "POST images to /predict")
        name, details = _predict_parameters(query)
        data = self._body()
        if not self.server.preparing.acquire(timeout=SOCKET_SECONDS):
            raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "too busy; try again")
        try:  # a preparer is free: the one this request holds a place for
            result = self.server.preparers.submit(_answer, self.server.model, data, name,
                                                  details).result()
        except NnctlError as e:  # not an image, blank, too many pixels...
            raise HttpError(HTTPStatus.BAD_REQUEST, str(e)) from None
        finally:
            self.server.preparing.release()
        return HTTPStatus.OK, JSON, json_bytes(result)

    # ------------------------------------------------------------------ the body

    def _body(self) -> bytes:
        """The request's body: an image's bytes, as many as Content-Length says. A body that
        stops coming for the socket's timeout (read_seconds) is refused with 408, one that
        ends early (the client closed its side) with 400."""
        length = self._declared_length()
        chunks, got = [], 0
        self.body_read = True  # nothing left to drop if it is refused
        try:
            while got < length:
                chunk = self.rfile.read1(min(length - got, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:
            raise HttpError(HTTPStatus.REQUEST_TIMEOUT,
                            f"the body stopped after {got:,} of the {length:,} bytes declared: "
                            f"nothing for {self.connection.gettimeout():g} s") from None
        if got < length:
            raise HttpError(HTTPStatus.BAD_REQUEST,
                            f"the body ended after {got:,} of the {length:,} bytes declared")
        return b"".join(chunks)

    def _declared_length(self) -> int:
        """Content-Length, checked with the content type before any of the body is read."""
        media = self.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if not (media.startswith("image/") or media == "application/octet-stream"):
            raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                            f"Content-Type {media or '(none)'}: send the image's bytes as "
                            "image/png (or any image/..., or application/octet-stream)")
        if "Transfer-Encoding" in self.headers:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED,
                            "send the image with a Content-Length (no Transfer-Encoding)")
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is missing")
        length = content_length(self.headers)
        if length is None:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"Content-Length {declared[:30]!r} is not a "
                                                    "number of bytes")
        if length > MAX_BODY:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"{length:,} bytes: an image may have at most {MAX_BODY:,}")
        if length == 0:
            raise HttpError(HTTPStatus.BAD_REQUEST, "the body is empty: send the bytes of an image")
        return length

    def handle_expect_100(self) -> bool:
        """curl asks before sending a large body: refuse before it is sent, or say go on."""
        try:
            self._check_headers()
            if self.command == "POST":
                self._declared_length()
        except HttpError as e:
            self._refuse(e)
            return False
        self.continued = True  # the client sends the body now
        return super().handle_expect_100()

    def _check_headers(self) -> None:
        """The header section as RFC 9112 asks of every request: well formed, one Host (present
        in HTTP/1.1) naming this server, at most one Content-Length, not beside
        Transfer-Encoding. A request that breaks any of these is refused (400, 403) before its
        body is read: two servers or proxies could read it two ways (request smuggling)."""
        error = header_error(self.headers, self.request_version)
        if error:
            raise HttpError(HTTPStatus.BAD_REQUEST, error)
        host = self.headers.get("Host")
        if host is not None and not addresses_this_server(host, self.server.host):
            raise HttpError(HTTPStatus.FORBIDDEN, f"Host {host[:100]!r} is not this server's "
                                                  "address: open the URL nnctl serve printed")

    def parse_request(self) -> bool:
        """The standard library's, but a client that stops in the middle of its header lines
        gets a 408 answer, as one that stops in the middle of its body does (`_body`)."""
        try:
            return super().parse_request()
        except TimeoutError:
            self.headers = None  # none complete: nothing to drop after the answer
            self._refuse(HttpError(HTTPStatus.REQUEST_TIMEOUT, "the header lines stopped "
                                   f"coming: nothing for {self.connection.gettimeout():g} s"))
            return False

    # ------------------------------------------------------------------ answers

    def _respond(self, route: Callable[[str, dict], tuple[int, str, bytes]]) -> None:
        try:
            self._check_headers()
            parts = urlsplit(self.path)
            try:
                query = parse_qs(parts.query, keep_blank_values=True, max_num_fields=4)
            except ValueError:
                raise HttpError(HTTPStatus.BAD_REQUEST, "too many query parameters") from None
            status, content_type, body = route(parts.path, query)
        except HttpError as e:
            self._refuse(e)
            return
        except OSError:  # the connection failed or timed out: handle_one_request or handle_error
            raise  # log it in one line
        except Exception as e:  # noqa: BLE001 - a bug of ours: one line in the log, no traceback
            self._refuse(HttpError(HTTPStatus.INTERNAL_SERVER_ERROR,
                                   f"internal error: {type(e).__name__}: {one_line(e)}"))
            return
        self._send(status, content_type, body)

    def _refuse(self, error: HttpError) -> None:
        """The answer {"error": message}, logged in one line."""
        self.log_message("%d %s", int(error.status), error.message)
        self._send(error.status, JSON, json_bytes({"error": error.message}))
        self._drop_unread_body()

    def _drop_unread_body(self) -> None:
        """Read and drop a refused body the client is still sending (up to DRAIN_LIMIT bytes),
        so that it reads the answer instead of a reset connection."""
        headers = getattr(self, "headers", None)
        if (self.command != "POST" or getattr(self, "body_read", False) or headers is None
                or ("Expect" in headers and not getattr(self, "continued", False))
                or header_error(headers, self.request_version)):
            return  # no body, already read, never sent, or of a length read two ways
        left = content_length(headers)
        if left is None or left > DRAIN_LIMIT:
            return  # no length, or too long to wait for
        try:
            self.connection.settimeout(1.0)
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(body)))
        for header, value in SECURITY.items():
            self.send_header(header, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """The standard library's refusals (a malformed request line, an unknown method...) as
        JSON too."""
        if code == HTTPStatus.NOT_IMPLEMENTED:  # an unknown method
            code, message = HTTPStatus.METHOD_NOT_ALLOWED, f"method {self.command}: use GET or POST"
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "refused"
        self._refuse(HttpError(code, message or phrase))

    def version_string(self) -> str:
        return self.server_version

    def log_request(self, code="-", size="-") -> None:
        """Only refused requests are logged (by `_refuse`): the page asks many times a second."""

    def log_message(self, format: str, *args) -> None:
        """`127.0.0.1 "POST /predict HTTP/1.1" 415 Content-Type ...`: one line, the request line
        cut to 200 characters and its control characters escaped."""
        request = getattr(self, "requestline", "")[:200].encode("unicode_escape").decode("ascii")
        self.server.log(f'{self.client_address[0]} "{request}" {one_line(format % args)}')


def _answer(model: Model, data: bytes, name: str, details: bool) -> dict:
    """POST /predict's answer for the image in `data` (run by one of the server's preparers)."""
    result, x = classify(model, data, name)
    if details:
        result.update(explain(model, x))
    return result


def _no_parameters(query: dict) -> None:
    if query:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown parameter {next(iter(query))!r}")


def _predict_parameters(query: dict) -> tuple[str, bool]:
    """?name=N (the result's "file", default "upload") and ?explain=1 (the page's details)."""
    unknown = set(query) - {"name", "explain"}
    if unknown:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown parameter {min(unknown)!r} "
                                                "(POST /predict takes name and explain)")
    name = query.get("name", ["upload"])[-1]
    if not 0 < len(name) <= MAX_NAME or not name.isprintable():
        raise HttpError(HTTPStatus.BAD_REQUEST,
                        f"name: 1 to {MAX_NAME} printable characters")
    explain_value = query.get("explain", ["0"])[-1]
    if explain_value not in ("0", "1"):
        raise HttpError(HTTPStatus.BAD_REQUEST, "explain: 0 or 1")
    return name, explain_value == "1"


def addresses_this_server(host_header: str, host: str) -> bool:
    """Whether a request's Host names this server: an IP address, localhost, or the --host
    given. A web page elsewhere whose name an attacker's DNS points at 127.0.0.1 (DNS rebinding)
    sends its own name, and is refused."""
    name = (host_header[1:].partition("]")[0] if host_header.startswith("[")
            else host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header)
    if name.lower() in ("localhost", host.lower()):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def json_bytes(value: object) -> bytes:
    """JSON as `nnctl predict --json` prints it (6 significant digits, NaN as null)."""
    return dumps(value).encode("utf-8")


# ---------------------------------------------------------------------------- the command


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(model: Model, host: str, port: int,
                log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
                read_seconds: float = SOCKET_SECONDS) -> Server:
    """A server for `model` listening on host:port (port 0: a free one), not yet serving; a
    connection's reads and writes time out after `read_seconds` each."""
    try:
        family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        return Server(address[:2], family, model, log, host, read_seconds)
    except OSError as e:  # an unknown host name, a port in use or privileged
        hint = "; try another --port, or --port 0 for a free one" if port else ""
        raise NnctlError(f"cannot listen on {host}:{port}: {one_line(e)}{hint}") from None


def url_of(server: Server) -> str:
    host, port = server.server_address[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class _Stop(BaseException):
    """SIGINT or SIGTERM while serving (not an Exception: nothing on the way catches it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise _Stop(signum)

    with signals_to(stop):
        yield


def header_error(headers: Message, version: str) -> str | None:
    """What makes a request's header section unsafe to read (RFC 9112, sections 3.2, 5 and
    6.3), or None: lines that are not `Name: value` (as `Host : x`), values folded over lines,
    no Host in HTTP/1.1, more than one Host or Content-Length (the second may be the one
    another server reads), Content-Length beside Transfer-Encoding."""
    if headers.defects or headers.get_payload():
        return "a header line is malformed (not Name: value)"
    if any("\n" in value or "\r" in value for value in headers.values()):
        return "a header value is folded over lines"
    for name in ("Host", "Content-Length"):
        if len(headers.get_all(name, [])) > 1:
            return f"{name} is given more than once"
    if "Host" not in headers and _at_least_1_1(version):
        return "Host is missing (HTTP/1.1 requires it)"
    if "Transfer-Encoding" in headers and "Content-Length" in headers:
        return "both Transfer-Encoding and Content-Length: send the image with Content-Length"
    return None


def _at_least_1_1(version: str) -> bool:
    """Whether a request's version (`HTTP/1.1`, as parse_request checked it) is 1.1 or later."""
    major, _, minor = version.removeprefix("HTTP/").partition(".")
    return major.isdigit() and minor.isdigit() and (int(major), int(minor)) >= (1, 1)


def content_length(headers: Message) -> int | None:
    """The Content-Length header as a number of bytes, or None if it is not ASCII digits (at
    most 20 of them)."""
    declared = headers.get("Content-Length", "")
    if not re.fullmatch(r"\d{1,20}", declared.strip(), re.ASCII):
        return None
    return int(declared)


def serve(target: str | Path, host: str = "127.0.0.1", port: int = 8000,
          on_ready: Callable[[Server], None] = lambda server: None) -> None:
    """Serve the page and API for the network of `target` until SIGINT or SIGTERM, which end it
    with Interrupted (exit status 130 / 143). `on_ready` is called once it listens."""
    with _stopped_by_signals():
        try:
            server = make_server(load_model(target), host, port)
            try:
                on_ready(server)
                server.serve_forever(poll_interval=0.5)
            finally:
                server.server_close()
        except _Stop as stop:
            name = signal.Signals(stop.signum).name
            raise Interrupted(f"{name}: stopped serving {target}", stop.signum) from None

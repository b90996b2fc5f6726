"""Helpers of the `nnctl serve` tests: a server in this process, requests over real HTTP.

Every server listens on 127.0.0.1 and is reached there only.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nnctl.serve.app import make_server, url_of
from nnctl.serve.model import load_model


@contextmanager
def running_server(target: Path, **options) -> Iterator[tuple[str, list[str]]]:
    """`nnctl serve TARGET --port 0` in a thread of this process: (its URL, its log lines).
    `options` go to make_server (read_seconds)."""
    log: list[str] = []
    server = make_server(load_model(target), "127.0.0.1", 0, log=log.append, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield url_of(server), log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def request(url: str, data: bytes | None = None, content_type: str | None = "image/png",
            method: str | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request; a 4xx or 5xx answer is returned, not raised."""
    headers = {"Content-Type": content_type} if data is not None and content_type else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), e.read()


def post_image(url: str, data: bytes, **kwargs) -> tuple[int, dict]:
    """POST /predict: (status, the JSON answer)."""
    status, _, body = request(url, data, **kwargs)
    return status, json.loads(body)

"""Download a known dataset (`fetch`): SHA-256 checks, mirror fallback, atomic renames, a deadline
per file, and the extraction of datasets served inside one zip archive.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nnctl.errors import ConfigError, DataError, RunDirError, one_line
from nnctl.io.atomic import atomic_file, make_directory, remove_stale_temporaries
from nnctl.io.datasets.catalog import KNOWN, accepted_sums, lookup
from nnctl.io.datasets.layout import SPLITS, sha256_file, why_unreadable
from nnctl.io.examples import STANDARD_NAMES
from nnctl.io.idx import check_file, read_idx
from nnctl.io.outputs import check_output_file
from nnctl.version import __version__

CHUNK = 1 << 16  # bytes per read while downloading
DEADLINE = 600.0  # seconds one file may take from one mirror, plus 1 s per MIN_RATE bytes of it
MIN_RATE = 100_000  # bytes per second: a slower mirror is given up for a big file
MAX_UNSIZED = 1 << 32  # bytes accepted for a file whose size is not published
MAX_SECONDS = 7 * 24 * 3600.0  # the largest timeout or deadline accepted
SCHEMES = ("http", "https", "file")

Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class Limits:
    """How long a mirror may take: `timeout` seconds without data, `deadline` seconds in all for
    one file (None: DEADLINE plus the published size at MIN_RATE)."""

    timeout: float = 30.0
    deadline: float | None = None

    def seconds_for(self, size: int | None) -> float:
        return self.deadline if self.deadline is not None else DEADLINE + (size or 0) / MIN_RATE


def fetch(name: str, to: str | Path, *, mirrors: Sequence[str] | None = None,
          progress: Progress | None = None, timeout: float = 30, deadline: float | None = None,
          force: bool = False, on_kept: Callable[[Path], None] | None = None,
          catalog: dict | None = None) -> list[Path]:
    """Download the four files of a known dataset into directory `to` (created); their paths.

    For each file the mirrors (`mirrors`, else the catalog's) are tried in order: the body is
    streamed with urllib into a temporary file in `to` while its SHA-256 is computed; it must
    match a published sum (and not exceed the published size), then it is fsync'd and renamed to
    the standard name (`train-images-idx3-ubyte.gz` ...). On any failure (HTTP error, refused
    connection, no data for `timeout` seconds, more than `deadline` seconds for the file,
    truncated body, wrong sum) the temporary file is deleted and the next mirror tried; when all
    fail, a one-line DataError names the file and the last reason. No half-written file is ever
    left under its final name, nor a temporary file after a failure; temporary files left by a
    killed fetch are removed first (atomic.remove_stale_temporaries). `file://` mirrors work
    too (a local copy); mirror URLs, `timeout` and `deadline` are checked first (ConfigError).

    Never writes over what is not its own: a file already there with a published sum is kept
    (`on_kept(path)` is called) and not downloaded again; any other file (or directory) under a
    standard name is refused, before anything is downloaded, unless `force`.

    `progress(file_name, bytes_done, bytes_total_or_None)` is called after every block read;
    bytes_done starts again from the first block when the next mirror is tried.

    Datasets served inside one archive (EMNIST: NIST's gzip.zip, 562 MB) download the archive
    the same way, verify its sum, extract the four members under the standard names and delete
    it (an archive already there with the published sum is used and kept). Their members have
    no published sums: a split's two files already present are kept when they read as valid IDX
    files with the published counts. EMNIST images are stored transposed relative to MNIST
    (draw them with nnctl.figures.dataset.info_figure(..., transpose=True)).

    `catalog` replaces KNOWN (tests pass their own entries with their own sums).
    """
    catalog = KNOWN if catalog is None else catalog
    entry = lookup(name, catalog)
    bases = [check_mirror(url) for url in (entry.get("mirrors", ()) if mirrors is None
                                           else mirrors)]
    limits = Limits(check_seconds(timeout, "timeout"),
                    None if deadline is None else check_seconds(deadline, "deadline"))
    if not bases:
        raise DataError(f"{name}: no mirrors to download from")
    to = make_directory(Path(to), DataError)
    remove_stale_temporaries(to)
    finals = {key: to / (stem + ".gz") for key, stem in STANDARD_NAMES.items()}
    kept = on_kept or (lambda path: None)
    if "archive" in entry:
        _fetch_archive(entry, to, finals, bases, progress, limits, force, kept)
        return list(finals.values())
    for key in _files_to_download(name, entry, finals, force, kept):
        spec = entry["files"][key]
        _download(spec["name"], bases, finals[key], accepted_sums(spec), spec.get("size"), progress,
                  limits)
    return list(finals.values())


def check_mirror(url: str) -> str:
    """`url` if it can be a mirror's base URL (http or https with a host, file with a local
    path); a one-line ConfigError (a usage error, exit 2) saying what is wrong otherwise."""
    problem = _mirror_problem(url)
    if problem is not None:
        raise ConfigError(f"mirror {url!r}: {problem}")
    return url


def _mirror_problem(url: str) -> str | None:
    if not url.strip():
        return "empty; expected an http://, https:// or file:// URL"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "contains spaces or control characters (percent-encode them)"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number 0..65535
    except ValueError as e:
        return f"not a valid URL: {one_line(e)}"
    if parts.scheme not in SCHEMES:
        return "expected an http://, https:// or file:// URL"
    if parts.scheme != "file":
        return None if parts.hostname else "no host name"
    if parts.netloc not in ("", "localhost"):
        return "a file:// URL names a local directory: file:///path/to/dir/"
    return None if parts.path else "no path"


def check_seconds(value: float, what: str) -> float:
    """`value` if it is a number of seconds nnctl can wait (positive, finite, at most a week)."""
    if not isinstance(value, (int, float)) or not 0 < value <= MAX_SECONDS:  # NaN fails too
        raise ConfigError(f"{what} must be a number of seconds, more than 0 and at most "
                          f"{MAX_SECONDS:g} (got {value!r})")
    return float(value)


def _files_to_download(name: str, entry: dict, finals: dict[str, Path], force: bool,
                       kept: Callable[[Path], None]) -> list[str]:
    """The keys of the files to download; a file already there with a published sum is kept,
    any other one refused unless `force` (all checked before anything is downloaded)."""
    wanted = []
    for key, final in finals.items():
        spec = entry["files"][key]
        accepted = accepted_sums(spec)
        if not accepted:
            raise DataError(f"{name}: {spec['name']}: no published SHA-256, refusing to download "
                            f"an unchecked file")
        if _has_sum(final, accepted):
            kept(final)
            continue
        _check_replaceable(final, force, f"is not the published {spec['name']} (another SHA-256)")
        wanted.append(key)
    return wanted


def _has_sum(path: Path, accepted: Sequence[str]) -> bool:
    try:
        return path.is_file() and sha256_file(path) in accepted
    except DataError:  # unreadable: not known to be right
        return False


def _check_replaceable(path: Path, force: bool, why: str) -> None:
    """Refuse to write `path` over a file (which `why` it is not ours to keep) unless `force`,
    or over a directory or a file of a run directory (outputs.check_output_file)."""
    if path.is_file() and not force:
        raise DataError(f"{path}: already exists and {why}; pass --force to replace it")
    check_output_file(path, force, DataError)


class _MirrorFailed(Exception):
    """This mirror did not give the right bytes (the reason is the message)."""


def _download(served: str, bases: Sequence[str], target: Path, accepted: tuple[str, ...],
              size: int | None, progress: Progress | None, limits: Limits) -> None:
    """Write `target` atomically with `served` from the first mirror that gives the right bytes."""
    last = "no mirror tried"
    for base in bases:
        url = base if base.endswith("/" + served) else base.rstrip("/") + "/" + served
        try:
            with atomic_file(target) as out:
                reason = _stream(url, out, served, accepted, size, progress, limits)
                if reason is not None:
                    raise _MirrorFailed(reason)  # the temporary file goes, the target stays
            return
        except _MirrorFailed as e:
            last = f"{url}: {e}"
    tried = f"{len(bases)} mirror{'s' if len(bases) != 1 else ''}"
    raise DataError(one_line(f"cannot fetch {served}: {tried} failed; the last, {last}"))


def _stream(url: str, out: BinaryIO, served: str, accepted: tuple[str, ...], size: int | None,
            progress: Progress | None, limits: Limits) -> str | None:
    """Copy `url` into `out`; None if the bytes are right, else why not (one line)."""
    local = _local_problem(url)
    if local is not None:
        return local
    watchdog = _Watchdog(limits.seconds_for(size))
    copy = _Copy(served, out, progress, MAX_UNSIZED if size is None else size)
    request = urllib.request.Request(url, headers={"User-Agent": f"nnctl/{__version__}"})
    opener = watchdog.opener()
    try:
        with watchdog.running(), opener.open(request, timeout=limits.timeout) as response:
            header = response.headers.get("Content-Length", "").strip()
            length = int(header) if header.isascii() and header.isdigit() else None
            if size is not None and length is not None and length > size:
                return f"announces {length} bytes, more than the published {size}"
            copy.run(response, length if length is not None else size, watchdog)
    except _MirrorFailed as e:
        return str(e)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        if watchdog.expired:
            return watchdog.reason(copy.done)
        return _reason(e, limits.timeout, copy.done)
    if watchdog.expired:  # the connection was shut: what was read is not the whole file
        return watchdog.reason(copy.done)
    if length is not None and copy.done != length:
        return f"truncated: {copy.done} of {length} bytes"
    actual = copy.digest.hexdigest()
    if actual not in accepted:
        return f"SHA-256 mismatch: got {actual}, expected {accepted[0]}"
    return None


def _reason(error: Exception, timeout: float, done: int) -> str:
    """Why a download failed, in one line, from the exception urllib raised."""
    if isinstance(error, urllib.error.HTTPError):
        error.close()
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if isinstance(error.reason, TimeoutError):
            return f"timed out (no answer within {timeout:g} s)"
        return one_line(getattr(error.reason, "strerror", None) or error.reason)
    if isinstance(error, TimeoutError):
        return f"timed out (no data for {timeout:g} s after {done} bytes)"
    if isinstance(error, http.client.IncompleteRead):
        return f"truncated: the connection closed after {done + len(error.partial)} bytes"
    return one_line(f"{type(error).__name__}: {error}")


def _local_problem(url: str) -> str | None:
    """For a file:// URL, why the file cannot be copied without opening it (a FIFO would block)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file":
        return None
    return why_unreadable(Path(urllib.request.url2pathname(parts.path)), "a file to download")


class _Copy:
    """The body of one download, block by block: counted, hashed, written, reported."""

    def __init__(self, served: str, out: BinaryIO, progress: Progress | None, cap: int):
        self.served, self.out, self.progress, self.cap = served, out, progress, cap
        self.digest, self.done = hashlib.sha256(), 0

    def run(self, response, total: int | None, watchdog: _Watchdog) -> None:
        read = getattr(response, "read1", response.read)  # read1: what has arrived, now
        while not watchdog.expired:
            block = read(CHUNK)
            if not block:
                return
            self.done += len(block)
            if self.done > self.cap:
                limit = "published" if self.cap != MAX_UNSIZED else "limit for an unknown size,"
                raise _MirrorFailed(f"more than the {limit} {self.cap} bytes")
            self.digest.update(block)
            try:
                self.out.write(block)
            except OSError as e:  # disk full...: another mirror would not help
                raise RunDirError(f"{self.served}: cannot write the download: "
                                  f"{e.strerror or e}") from None
            if self.progress is not None:
                self.progress(self.served, self.done, total)


class _Watchdog:
    """The deadline of one download: when it passes, every connection of the download is shut,
    wherever it is blocked (headers or body trickling in, a redirect), and `expired` is set."""

    def __init__(self, seconds: float):
        self.seconds, self.expired = seconds, False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @contextmanager
    def running(self) -> Iterator[None]:
        """The deadline counts from here; leaving the block cancels it."""
        self._timer.start()
        try:
            yield
        finally:
            self._timer.cancel()

    def reason(self, done: int) -> str:
        return f"gave up at the deadline of {self.seconds:g} s for the file ({done} bytes received)"

    def record(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def opener(self) -> urllib.request.OpenerDirector:
        """urllib's opener for http, https and file URLs only (a redirect to ftp:// would escape
        the watchdog), handing every socket it connects to this watchdog."""
        opener = urllib.request.OpenerDirector()
        for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(),
                        _HTTPHandler(), _HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                        urllib.request.HTTPRedirectHandler(), urllib.request.FileHandler(),
                        urllib.request.HTTPErrorProcessor()):
            handler.watchdog = self
            opener.add_handler(handler)
        return opener


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked read in the downloading thread
    except OSError:
        pass


class _Recording:
    """A urllib handler whose connections hand their socket to its watchdog as it is made."""

    watchdog: _Watchdog

    def do_open(self, http_class, request, **kwargs):
        watchdog = self.watchdog

        class Connection(http_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                create = self._create_connection

                def create_and_record(*a, **k):
                    sock = create(*a, **k)
                    watchdog.record(sock)
                    return sock

                self._create_connection = create_and_record

        return super().do_open(Connection, request, **kwargs)


class _HTTPHandler(_Recording, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_Recording, urllib.request.HTTPSHandler):
    pass


def _fetch_archive(entry: dict, to: Path, finals: dict[str, Path], bases: Sequence[str],
                   progress: Progress | None, limits: Limits, force: bool,
                   kept: Callable[[Path], None]) -> None:
    """Extract the splits not already there from the dataset's archive (downloaded unless an
    archive with the published sum is there), refusing to replace other files unless `force`."""
    wanted = _splits_to_extract(entry, finals, kept)
    if not wanted:
        return
    for key in wanted:
        _check_replaceable(finals[key], force, "is not a valid IDX file with the published count")
    archive = entry["archive"]
    accepted = accepted_sums(archive)
    if not accepted:
        raise DataError(f"{archive['name']}: no published SHA-256, refusing to download an "
                        f"unchecked file")
    path = to / archive["name"]
    ours = not _has_sum(path, accepted)
    if ours:
        _check_replaceable(path, force, f"is not the published {archive['name']} (another SHA-256)")
        _download(archive["name"], bases, path, accepted, archive.get("size"), progress, limits)
    else:
        kept(path)
    try:
        _extract(path, archive["name"], {key: entry["files"][key]["name"] for key in wanted},
                 finals)
    finally:
        if ours:  # only what this fetch downloaded is deleted
            path.unlink(missing_ok=True)


def _splits_to_extract(entry: dict, finals: dict[str, Path],
                       kept: Callable[[Path], None]) -> list[str]:
    """The keys of the files to extract: those not already there as a valid IDX file of their
    kind with the published count."""
    wanted = []
    for split, keys in SPLITS.items():
        for key in keys:
            if _member_ok(finals[key], key, entry.get("counts", {}).get(split)):
                kept(finals[key])
            else:
                wanted.append(key)
    return wanted


def _extract(archive: Path, name: str, members: dict[str, str], finals: dict[str, Path]) -> None:
    """Copy each wanted member of the zip `archive` (by its base name) to its final path."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = {}
            for member in zf.namelist():
                names.setdefault(member.rsplit("/", 1)[-1], member)
            for key, wanted in members.items():
                if wanted not in names:
                    raise DataError(f"{name}: has no member {wanted}")
                with zf.open(names[wanted]) as source, atomic_file(finals[key]) as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DataError(one_line(f"{name}: cannot extract: {e}")) from None


def _member_ok(path: Path, key: str, count: int | None) -> bool:
    """`path` is a valid IDX file of `key`'s kind (nnctl.io.idx.check_file) with `count`
    examples."""
    if not path.is_file():
        return False
    try:
        array = read_idx(path)
        check_file(key, array, path)
    except DataError:
        return False
    return count is None or len(array) == count

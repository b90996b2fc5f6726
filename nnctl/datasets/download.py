"""Download a known dataset (`fetch`): SHA-256 checks, mirror fallback, atomic renames, and the
extraction of datasets served inside one zip archive.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from nnctl import __version__
from nnctl.atomic import atomic_file, make_directory
from nnctl.data import STANDARD_NAMES, read_examples
from nnctl.datasets.catalog import (
    KNOWN,
    SPLITS,
    _accepted,
    lookup,
    sha256_file,
)
from nnctl.errors import DataError, RunDirError, one_line

CHUNK = 1 << 16  # bytes per read while downloading

Progress = Callable[[str, int, "int | None"], None]



def fetch(name: str, to: str | Path, *, mirrors: Sequence[str] | None = None,
          progress: Progress | None = None, timeout: float = 30,
          catalog: dict | None = None) -> list[Path]:
    """Download the four files of a known dataset into directory `to` (created); their paths.

    For each file the mirrors (`mirrors`, else the catalog's) are tried in order: the body is
    streamed with urllib into a temporary file in `to` while its SHA-256 is computed; it must
    match a published sum (and not exceed the published size), then it is fsync'd and renamed to
    the standard name (`train-images-idx3-ubyte.gz` ...). On any failure (HTTP error, refused
    connection, no data for `timeout` seconds, truncated body, wrong sum) the temporary file is
    deleted and the next mirror tried; when all fail, a one-line DataError names the file and
    the last reason. Files already present with a published sum are not downloaded again. No
    half-written file is ever left under its final name, nor a temporary file after a failure.
    `file://` mirrors work too (a local copy).

    `progress(file_name, bytes_done, bytes_total_or_None)` is called after every block read;
    bytes_done starts again from the first block when the next mirror is tried.

    Datasets served inside one archive (EMNIST: NIST's gzip.zip, 562 MB) download the archive
    the same way, verify its sum, extract the four members under the standard names and delete
    it. Their members have no published sums: files already present are kept when they read as
    valid IDX files with the published counts. EMNIST images are stored transposed relative to
    MNIST (draw them with info_figure(..., transpose=True)).

    `catalog` replaces KNOWN (tests pass their own entries with their own sums).
    """
    catalog = KNOWN if catalog is None else catalog
    entry = lookup(name, catalog)
    to = Path(to)
    make_directory(to, DataError)
    bases = list(entry.get("mirrors", ())) if mirrors is None else list(mirrors)
    if not bases:
        raise DataError(f"{name}: no mirrors to download from")
    finals = {key: to / (stem + ".gz") for key, stem in STANDARD_NAMES.items()}
    if "archive" in entry:
        _fetch_archive(entry, to, finals, bases, progress, timeout)
        return list(finals.values())
    for key, final in finals.items():
        spec = entry["files"][key]
        accepted = _accepted(spec)
        if not accepted:
            raise DataError(f"{name}: {spec['name']}: no published SHA-256, refusing to download "
                            f"an unchecked file")
        if final.is_file() and sha256_file(final) in accepted:
            continue
        _download(spec["name"], bases, final, accepted, spec.get("size"), progress, timeout)
    return list(finals.values())


class _MirrorFailed(Exception):
    """This mirror did not give the right bytes (the reason is the message)."""


def _download(served: str, bases: Sequence[str], target: Path, accepted: tuple[str, ...],
              size: int | None, progress: Progress | None, timeout: float) -> None:
    """Write `target` atomically with `served` from the first mirror that gives the right bytes."""
    last = "no mirror tried"
    for base in bases:
        url = base if base.endswith("/" + served) else base.rstrip("/") + "/" + served
        try:
            with atomic_file(target) as out:
                reason = _stream(url, out, served, accepted, size, progress, timeout)
                if reason is not None:
                    raise _MirrorFailed(reason)  # the temporary file goes, the target stays as it was
            return
        except _MirrorFailed as e:
            last = f"{url}: {e}"
    tried = f"{len(bases)} mirror{'s' if len(bases) != 1 else ''}"
    raise DataError(one_line(f"cannot fetch {served}: {tried} failed; the last, {last}"))


def _stream(url: str, out, served: str, accepted: tuple[str, ...], size: int | None,
            progress: Progress | None, timeout: float) -> str | None:
    """Copy `url` into `out`; None if the bytes are right, else why not (one line)."""
    digest, done, length = hashlib.sha256(), 0, None
    request = urllib.request.Request(url, headers={"User-Agent": f"nnctl/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            header = response.headers.get("Content-Length")
            length = int(header) if header and header.strip().isdigit() else None
            total = length if length is not None else size
            read = getattr(response, "read1", response.read)  # read1: what has arrived, now
            while True:
                block = read(CHUNK)
                if not block:
                    break
                done += len(block)
                if size is not None and done > size:
                    return f"more than the published {size} bytes"
                digest.update(block)
                try:
                    out.write(block)
                except OSError as e:  # disk full...: another mirror would not help
                    raise RunDirError(f"{served}: cannot write the download: {e.strerror or e}") from None
                if progress is not None:
                    progress(served, done, total)
    except urllib.error.HTTPError as e:
        e.close()
        return f"HTTP {e.code} {e.reason}"
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            return f"timed out (no answer within {timeout:g} s)"
        return one_line(getattr(e.reason, "strerror", None) or e.reason)
    except TimeoutError:
        return f"timed out (no data for {timeout:g} s after {done} bytes)"
    except http.client.IncompleteRead as e:
        return f"truncated: the connection closed after {done + len(e.partial)} bytes"
    except (http.client.HTTPException, OSError, ValueError) as e:
        return one_line(f"{type(e).__name__}: {e}")
    if length is not None and done != length:
        return f"truncated: {done} of {length} bytes"
    actual = digest.hexdigest()
    if actual not in accepted:
        return f"SHA-256 mismatch: got {actual}, expected {accepted[0]}"
    return None


def _fetch_archive(entry: dict, to: Path, finals: dict[str, Path], bases: Sequence[str],
                   progress: Progress | None, timeout: float) -> None:
    if all(path.is_file() for path in finals.values()) and _counts_ok(finals, entry):
        return
    archive = entry["archive"]
    accepted = _accepted(archive)
    if not accepted:
        raise DataError(f"{archive['name']}: no published SHA-256, refusing to download an "
                        f"unchecked file")
    tmp = to / archive["name"]
    _download(archive["name"], bases, tmp, accepted, archive.get("size"), progress, timeout)
    try:
        with zipfile.ZipFile(tmp) as zf:
            members = {}
            for member in zf.namelist():
                members.setdefault(member.rsplit("/", 1)[-1], member)
            for key, final in finals.items():
                wanted = entry["files"][key]["name"]
                if wanted not in members:
                    raise DataError(f"{archive['name']}: has no member {wanted}")
                with zf.open(members[wanted]) as source, atomic_file(final) as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DataError(one_line(f"{archive['name']}: cannot extract: {e}")) from None
    finally:
        tmp.unlink(missing_ok=True)


def _counts_ok(finals: dict[str, Path], entry: dict) -> bool:
    counts = entry.get("counts", {})
    for split, (images_key, labels_key) in SPLITS.items():
        try:
            _, labels = read_examples(finals[images_key], finals[labels_key])
        except DataError:
            return False
        if counts.get(split) is not None and len(labels) != counts[split]:
            return False
    return True

"""What kind of thing a path names (a config, a sweep file, a run, a sweep directory, a
checkpoint, an image, ...), recognised cheaply and safely, and the one-line hint when a command
is given the wrong kind: `expect(path, kinds, command)`.

Recognising reads at most HEAD_BYTES of a regular file (never opening a FIFO or device for a
blocking read), and looks in a directory only at the names of its marker files (stat, never a read):
nothing is parsed, so a damaged file of a kind is still named as that kind, and the command's
own reader then says what is wrong with it. A path that is not recognised (missing, unreadable,
some other file or directory) is left to the command's reader too.
"""

from __future__ import annotations

import os
import re
import shlex
import stat
from collections.abc import Iterable
from pathlib import Path

from nnctl.errors import NnctlError, WrongKindError
from nnctl.io.inputs import open_regular
from nnctl.io.marked_dirs import RUN_MARKER, SWEEP_MARKER, TOUR_MARKER

CONFIG = "config"
SWEEP_FILE = "sweep file"
RUN = "run"
SWEEP_DIR = "sweep directory"
TOUR_DIR = "tour directory"
CHECKPOINT = "checkpoint"
IMAGE = "image"
DATASET = "dataset"
IDX_FILE = "IDX file"
# not recognised: left to the command's own reader
OTHER_FILE, OTHER_DIR, MISSING = "file", "directory", "missing"

NOUNS = {CONFIG: "a YAML config", SWEEP_FILE: "a sweep file", RUN: "a run directory",
         SWEEP_DIR: "a sweep directory", TOUR_DIR: "a tour directory",
         CHECKPOINT: "a .npz checkpoint", IMAGE: "an image", DATASET: "a dataset directory",
         IDX_FILE: "an IDX data file", OTHER_FILE: "a file", OTHER_DIR: "a directory",
         MISSING: "a path that does not exist"}
UNRECOGNISED = (OTHER_FILE, OTHER_DIR, MISSING)

# A sweep file's top-level keys (nnctl.sweep.spec reads them): a config has none of them.
SWEEP_KEYS = ("base", "parameters", "method", "samples", "sample_seed", "seeds", "metric",
              "early_stop")
CONFIG_SECTIONS = ("model", "training", "data")
HEAD_BYTES = 64 * 1024  # a config is at most this long (io.config.yaml_reader)
TOP_KEY = re.compile(r"^[\"']?([A-Za-z_][\w.-]*)[\"']?[ \t]*:(?:[ \t]|$)", re.MULTILINE)
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
               b"MM\x00*")
IDX_TYPES = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}


def kind_of(path: str | Path) -> str:
    """The kind of what `path` names: one of the constants above."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return MISSING
    except OSError:
        return OTHER_FILE
    if stat.S_ISDIR(mode):
        return _directory_kind(path)
    if not stat.S_ISREG(mode):
        return OTHER_FILE
    try:
        with open_regular(path, "a file", NnctlError) as f:
            head = f.read(HEAD_BYTES)
    except (NnctlError, OSError):
        return OTHER_FILE
    return _file_kind(path, head)


def is_run(path: Path) -> bool:
    """A run directory: marked as nnctl's, or (runs of nnctl before the marker) holding a run's
    config and checkpoints."""
    return ((path / RUN_MARKER).is_file() or (path / "checkpoints" / "last.npz").is_file()
            or ((path / "config.yaml").is_file() and (path / "checkpoints").is_dir()))


def _directory_kind(path: Path) -> str:
    if is_run(path):
        return RUN
    if (path / SWEEP_MARKER).is_file():
        return SWEEP_DIR
    if (path / TOUR_MARKER).is_file():
        return TOUR_DIR
    if any((path / f"{stem}{gz}").is_file() for stem in ("train-images-idx3-ubyte",
                                                       "t10k-images-idx3-ubyte")
           for gz in (".gz", "")):
        return DATASET
    return OTHER_DIR


def _file_kind(path: Path, head: bytes) -> str:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return CHECKPOINT
    if head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return IMAGE
    if (len(head) >= 4 and head[:2] == b"\0\0" and head[2] in IDX_TYPES
            and 1 <= head[3] <= 4) or ("idx" in path.name and head[:2] == b"\x1f\x8b"):
        return IDX_FILE
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:  # cut inside a character, or binary
        text = head[:-3].decode("utf-8", errors="replace") if len(head) == HEAD_BYTES else ""
        if "\ufffd" in text:
            return OTHER_FILE
    keys = set(TOP_KEY.findall(text))
    if keys & set(CONFIG_SECTIONS):  # a sweep file has them under base:, never at the top
        return CONFIG
    if keys & set(SWEEP_KEYS):
        return SWEEP_FILE
    return CONFIG if path.suffix.lower() in (".yaml", ".yml") else OTHER_FILE


# --------------------------------------------------------------------------- the hint

# What to do with a path of a kind, by (kind, command); (kind, None) when no command's own fits.
# {p} is the path, quoted as a shell would need it.
HINTS = {
    (CONFIG, None): "train it: nnctl train {p}",
    (CONFIG, "evaluate"): "train it first: nnctl train {p}",
    (CONFIG, "sweep"): "train it with nnctl train {p}, or name it as the base: of a sweep file",
    (SWEEP_FILE, None): "run the sweep: nnctl sweep {p}",
    (RUN, None): "evaluate it: nnctl evaluate {p}",
    (RUN, "train"): "continue it: nnctl train --resume {p}",
    (RUN, "gradcheck"): "its config is {c}: nnctl gradcheck {c}",
    (RUN, "augment-preview"): "its config is {c}: nnctl data augment-preview {c} --out FILE.png",
    (RUN, "sweep"): "continue the run with nnctl train --resume {p}",
    (RUN, "predict-input"): "the run comes first: nnctl predict {p} IMAGE...",
    (SWEEP_DIR, None): "its trials are runs: nnctl runs {p}",
    (SWEEP_DIR, "train"): "continue the sweep: nnctl sweep --resume {p}",
    (SWEEP_DIR, "sweep"): "continue it: nnctl sweep --resume {p}",
    (TOUR_DIR, None): "open {p}/index.html; its runs: nnctl runs {p}",
    (CHECKPOINT, None): "evaluate it: nnctl evaluate {p}",
    (CHECKPOINT, "predict-input"): "the checkpoint comes first: nnctl predict {p} IMAGE...",
    (IMAGE, None): "classify it: nnctl predict RUN {p}",
    (IMAGE, "predict"): "the run or checkpoint comes first: nnctl predict RUN {p}",
    (DATASET, None): "describe it: nnctl data info {p}; train on it with --set data.dir={p}",
    (IDX_FILE, None): "its directory is a dataset: nnctl data info {d}",
}


def hint(path: str | Path, kind: str, command: str | None = None) -> str:
    """What to do with `path`, of `kind`, said as a command to type ("" if nothing fits)."""
    path = Path(path)
    template = HINTS.get((kind, command)) or HINTS.get((kind, None), "")
    return template.format(p=shlex.quote(str(path)), c=shlex.quote(str(path / "config.yaml")),
                           d=shlex.quote(str(path.parent)))


def wrong_kind(path: str | Path, got: str, expected: Iterable[str],
               command: str | None = None) -> str:
    """The one line for `path`, of kind `got`, given where one of `expected` is taken."""
    nouns = [NOUNS[kind] for kind in expected if kind not in UNRECOGNISED]
    wanted = " or ".join(filter(None, (", ".join(nouns[:-1]), nouns[-1])))
    advice = hint(path, got, command)
    return f"{path}: is {NOUNS[got]}, not {wanted}" + (f"; {advice}" if advice else "")


def expect(path: str | Path, kinds: Iterable[str], command: str | None = None) -> str:
    """The kind of `path`, if it is one of `kinds` or not recognised (the command's reader then
    speaks); a recognised other kind is a WrongKindError (exit status 2) saying what `path` is
    and what to do with it. `command` chooses the hint (`train`, `sweep`, `predict`, ...)."""
    kinds = tuple(kinds)
    got = kind_of(path)
    if got in kinds or got in UNRECOGNISED:
        return got
    raise WrongKindError(wrong_kind(path, got, kinds, command))

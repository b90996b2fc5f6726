"""MNIST-style datasets: describe, verify, download and import them.

The library behind `nnctl data info|verify|fetch|import-csv`. A dataset directory holds the four
IDX files with the standard MNIST names (nnctl.data.STANDARD_NAMES), gzipped (`.gz`) or raw; when
both are there the gzipped one is used, as everywhere in nnctl (nnctl.data.data_paths).

- `KNOWN`: the datasets nnctl can fetch: the files as served, their published SHA-256 sums, the
  number of examples, and public mirrors to try in order.
- `info` / `info_figure`: counts, image shape, pixel statistics and class balance per split; a PNG
  of sample images and the mean image of each class.
- `verify`: a per-file report (present? a valid IDX? counts agree? SHA-256 as published?).
- `fetch`: download a known dataset with SHA-256 checks, mirror fallback and atomic renames.
- `import_csv`: the common CSV layout (label, then one column per pixel) to gzipped IDX files.

Every file written here goes to a temporary file in the target directory, is fsync'd and then
renamed into place: a crash or a failed download never leaves a half-written file under its
final name.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import http.client
import io
import math
import re
import shutil
import struct
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from nnctl import __version__
from nnctl.atomic import atomic_file, atomic_write_bytes
from nnctl.data import STANDARD_NAMES, data_paths, read_examples, read_idx
from nnctl.errors import DataError, RunDirError

SPLITS = {"train": ("train_images", "train_labels"), "test": ("test_images", "test_labels")}
CHUNK = 1 << 16  # bytes per read while downloading

# --------------------------------------------------------------------------------------------
# The catalog
#
# KNOWN[name] = {
#     "description": str,
#     "mirrors": [base URL, ...]        tried in order; a file's URL is base + its served name
#     "counts": {"train": n, "test": n} examples per split
#     "class_names": [str, ...]         label k's name, for figures
#     "files": {key of STANDARD_NAMES: {
#         "name": the file name as served (or as a member of "archive"),
#         "size": bytes as served (or None),
#         "sha256": (accepted SHA-256 sums of the compressed file, the served one first) or (),
#         "raw_sha256": SHA-256 of the uncompressed IDX file, or None}},
#     "archive": {"name", "size", "sha256": (...)}   only when the files come inside one zip
#     "transposed": True                              images stored transposed (EMNIST)
# }
# Only sums copied from a published checksum file are here; none were computed by us.
# --------------------------------------------------------------------------------------------

KNOWN: dict[str, dict] = {
    "mnist": {
        "description": "MNIST handwritten digits (LeCun, Cortes, Burges), 28x28, 10 classes",
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "counts": {"train": 60000, "test": 10000},
        "class_names": [str(digit) for digit in range(10)],
        # "sha256"[0] and "size": the files as the mirrors serve them, from tensorflow/datasets
        # tensorflow_datasets/url_checksums/mnist.txt at commit 31f1255e (URLs under
        # storage.googleapis.com/cvdf-datasets/mnist/). "sha256"[1]: the re-compressed copies
        # bundled in this repository, from data/mnist/SHA256SUMS (same content, other gzip
        # bytes). "raw_sha256": the uncompressed files, from data/mnist/SHA256SUMS.raw (the same
        # values are published in several public projects next to the served files' sums).
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "size": 9912422,
                "sha256": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                           "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971"),
                "raw_sha256": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "size": 28881,
                "sha256": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                           "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203"),
                "raw_sha256": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "size": 1648877,
                "sha256": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                           "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be"),
                "raw_sha256": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "size": 4542,
                "sha256": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                           "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b"),
                "raw_sha256": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            },
        },
    },
    "fashion-mnist": {
        "description": "Fashion-MNIST, Zalando article images (Xiao, Rasul, Vollgraf), 28x28, 10 classes",
        "mirrors": [
            # the S3 website endpoint is http only; the SHA-256 check makes that safe
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ],
        "counts": {"train": 60000, "test": 10000},
        "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                        "Sneaker", "Bag", "Ankle boot"],
        # sums and sizes: tensorflow/datasets tensorflow_datasets/url_checksums/fashion_mnist.txt
        # (commit 333639b3)
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "size": 26421880,
                "sha256": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",),
                "raw_sha256": None,
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "size": 29515,
                "sha256": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",),
                "raw_sha256": None,
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "size": 4422102,
                "sha256": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",),
                "raw_sha256": None,
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "size": 5148,
                "sha256": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",),
                "raw_sha256": None,
            },
        },
    },
    "kmnist": {
        "description": "Kuzushiji-MNIST, cursive Japanese hiragana (Clanuwat et al.), 28x28, 10 classes",
        "mirrors": [
            "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        ],
        "counts": {"train": 60000, "test": 10000},
        # the hiragana お き す つ な は ま や れ を, romanized (Pillow's default font has no kana)
        "class_names": ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        # sums and sizes: tensorflow/datasets tensorflow_datasets/url_checksums/kmnist.txt
        # (commit 333639b3)
        "files": {
            "train_images": {
                "name": "train-images-idx3-ubyte.gz",
                "size": 18165135,
                "sha256": ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",),
                "raw_sha256": None,
            },
            "train_labels": {
                "name": "train-labels-idx1-ubyte.gz",
                "size": 29497,
                "sha256": ("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",),
                "raw_sha256": None,
            },
            "test_images": {
                "name": "t10k-images-idx3-ubyte.gz",
                "size": 3041136,
                "sha256": ("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",),
                "raw_sha256": None,
            },
            "test_labels": {
                "name": "t10k-labels-idx1-ubyte.gz",
                "size": 5120,
                "sha256": ("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",),
                "raw_sha256": None,
            },
        },
    },
    "emnist-digits": {
        "description": ("EMNIST Digits (Cohen et al. 2017), 28x28, 10 classes; the images are "
                        "stored transposed relative to MNIST"),
        "mirrors": [
            "https://biometrics.nist.gov/cs_links/EMNIST/",
            "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/",
        ],
        "counts": {"train": 240000, "test": 40000},
        "class_names": [str(digit) for digit in range(10)],
        "transposed": True,
        # NIST publishes EMNIST as one zip of all six splits (562 MB); its sum and size are from
        # tensorflow/datasets tensorflow_datasets/url_checksums/emnist.txt at commit 333639b3
        # (the same sum is given for the biometrics.nist.gov URL in other public projects). No
        # published SHA-256 of the four members was found: they are trusted through the
        # archive's sum (and the zip's CRCs).
        "archive": {
            "name": "gzip.zip",
            "size": 561753746,
            "sha256": ("fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e",),
        },
        "files": {
            "train_images": {"name": "emnist-digits-train-images-idx3-ubyte.gz", "size": None,
                             "sha256": (), "raw_sha256": None},
            "train_labels": {"name": "emnist-digits-train-labels-idx1-ubyte.gz", "size": None,
                             "sha256": (), "raw_sha256": None},
            "test_images": {"name": "emnist-digits-test-images-idx3-ubyte.gz", "size": None,
                            "sha256": (), "raw_sha256": None},
            "test_labels": {"name": "emnist-digits-test-labels-idx1-ubyte.gz", "size": None,
                            "sha256": (), "raw_sha256": None},
        },
    },
}

Progress = Callable[[str, int, "int | None"], None]


# --------------------------------------------------------------------------------------------
# Shared helpers


def lookup(name: str, catalog: dict | None = None) -> dict:
    """The catalog entry of `name` (case and `_`/`-` insensitive); DataError with a did-you-mean."""
    catalog = KNOWN if catalog is None else catalog
    key = name.strip().lower().replace("_", "-")
    for candidate in (name, key):
        if candidate in catalog:
            return catalog[candidate]
    close = difflib.get_close_matches(key, list(catalog), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise DataError(f"unknown dataset {name!r}{hint} (known: {', '.join(catalog)})")


def _canonical_name(name: str, catalog: dict) -> str:
    key = name.strip().lower().replace("_", "-")
    return name if name in catalog else key


def _accepted(spec: dict) -> tuple[str, ...]:
    sums = spec.get("sha256") or ()
    return (sums,) if isinstance(sums, str) else tuple(sums)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _present_sums(paths: dict[str, Path]) -> dict[str, str | None]:
    """SHA-256 of each existing file (None if it cannot be read)."""
    sums: dict[str, str | None] = {}
    for key, path in paths.items():
        if path.is_file():
            try:
                sums[key] = sha256_file(path)
            except OSError:
                sums[key] = None
    return sums


def _sha256_gunzipped(path: Path) -> str | None:
    """SHA-256 of a gzipped file's content, or None if it does not decompress."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()


def _is_gzip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _check_directory(directory: str | Path) -> Path:
    directory = Path(directory)
    if not directory.exists():
        raise DataError(f"{directory}: no such directory")
    if not directory.is_dir():
        raise DataError(f"{directory}: not a directory")
    return directory


def standard_paths(directory: str | Path) -> dict[str, Path]:
    """The four standard file paths in `directory`, gzipped if there, else raw (as data_paths)."""
    config = SimpleNamespace(dir=Path(directory), **{key: None for key in STANDARD_NAMES})
    return data_paths(config)


def _make_directory(to: Path) -> None:
    try:
        to.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"{to}: not a directory") from None
    except OSError as e:
        raise DataError(f"{to}: cannot create the directory: {e.strerror or e}") from None


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# --------------------------------------------------------------------------------------------
# info


def info(directory: str | Path) -> dict:
    """Counts, image shape, pixel dtype and range, class balance, for each split present.

    Returns {"directory", "image_shape", "pixel_dtype", "classes", "splits": {"train": {...},
    "test": {...}}}, each split with "images" and "labels" (the files read), "count",
    "image_shape", "pixel_dtype", "pixel_min", "pixel_max", "pixel_mean", "pixel_std",
    "label_min", "label_max" and "class_counts" (a list: index k holds the number of examples
    of label k, for k = 0 .. classes-1 of both splits). A split whose two files are both absent
    is left out; a directory with neither split is a DataError.
    """
    directory = _check_directory(directory)
    paths = standard_paths(directory)
    splits: dict[str, dict] = {}
    arrays = {}
    for split, (images_key, labels_key) in SPLITS.items():
        if not paths[images_key].exists() and not paths[labels_key].exists():
            continue
        images, labels = read_examples(paths[images_key], paths[labels_key])
        arrays[split] = labels
        splits[split] = {
            "images": str(paths[images_key]),
            "labels": str(paths[labels_key]),
            "count": len(labels),
            "image_shape": [int(d) for d in images.shape[1:]],
            "pixel_dtype": str(images.dtype),
            "pixel_min": _scalar(images.min()),
            "pixel_max": _scalar(images.max()),
            **_pixel_moments(images),
            "label_min": int(labels.min()),
            "label_max": int(labels.max()),
        }
    if not splits:
        names = ", ".join(STANDARD_NAMES.values())
        raise DataError(f"{directory}: no MNIST-style files ({names}, gzipped or not)")
    classes = max(int(labels.max()) for labels in arrays.values()) + 1
    for split, labels in arrays.items():
        splits[split]["class_counts"] = [int(c) for c in np.bincount(labels, minlength=classes)]
    first = next(iter(splits.values()))
    return {
        "directory": str(directory),
        "image_shape": first["image_shape"],
        "pixel_dtype": first["pixel_dtype"],
        "classes": classes,
        "splits": splits,
    }


def _pixel_moments(images: np.ndarray, block: int = 4096) -> dict[str, float]:
    """Mean and standard deviation in blocks (np.std would make a float64 copy of everything)."""
    mean = float(images.mean(dtype=np.float64))
    squares = 0.0
    for start in range(0, len(images), block):
        centred = images[start:start + block].astype(np.float64) - mean
        squares += float(np.vdot(centred, centred))
    return {"pixel_mean": mean, "pixel_std": math.sqrt(squares / max(images.size, 1))}


def _scalar(value) -> int | float:
    return value.item() if hasattr(value, "item") else value


def info_figure(directory: str | Path, out_png: str | Path, *, split: str = "train",
                per_class: int = 10, zoom: int = 3, class_names: Sequence[str] | None = None,
                transpose: bool = False) -> Path:
    """A PNG (Pillow only): per class, a row of `per_class` sample images and the class mean.

    The samples are the first examples of each label in the split's files, drawn on the split's
    grey scale (pixel min black, max white, as stored: MNIST digits are light on dark); the mean
    image of each class is stretched to its own min..max for contrast. Each tile is upscaled `zoom` times with square
    pixels; each row starts with its label (and `class_names[k]` if given). EMNIST images are
    stored transposed relative to MNIST: pass `transpose=True` to draw them upright.
    Written atomically; returns the path.
    """
    from PIL import Image, ImageDraw, ImageFont

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if per_class < 1 or zoom < 1:
        raise DataError(f"per_class and zoom must be at least 1 (got {per_class}, {zoom})")
    directory = _check_directory(directory)
    paths = standard_paths(directory)
    images_key, labels_key = SPLITS[split]
    images, labels = read_examples(paths[images_key], paths[labels_key])
    if images.ndim != 3:
        raise DataError(f"{paths[images_key]}: cannot draw images of shape "
                        f"{'x'.join(map(str, images.shape[1:]))} (need rows x columns)")
    if transpose:
        images = images.transpose(0, 2, 1)
    classes = int(labels.max()) + 1
    low, high = float(images.min()), float(images.max())
    span = (high - low) or 1.0
    rows, cols = images.shape[1:]
    resample = getattr(Image, "Resampling", Image).NEAREST
    tile_w, tile_h = cols * zoom, rows * zoom

    def tile(picture: np.ndarray, low: float = low, span: float = span) -> Image.Image:
        grey = np.clip((picture.astype(np.float64) - low) / span * 255.0, 0, 255)
        return Image.fromarray(np.rint(grey).astype(np.uint8), "L").resize((tile_w, tile_h), resample)

    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    def row_label(k: int) -> str:
        if class_names is not None and k < len(class_names) and class_names[k] != str(k):
            return f"{k} {class_names[k]}"
        return str(k)

    pad = 4
    label_w = max(text_size(row_label(k))[0] for k in range(classes)) + 2 * pad
    text_h = max(text_size("samples")[1], 10)
    header_h = text_h + 2 * pad
    samples_x = label_w
    mean_x = samples_x + per_class * (tile_w + pad) + 3 * pad
    width = mean_x + max(tile_w, text_size("mean")[0]) + pad
    height = header_h + classes * (tile_h + pad) + pad
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    draw.text((samples_x, pad), f"{split}: first {per_class} of each label", fill=0, font=font)
    draw.text((mean_x, pad), "mean", fill=0, font=font)
    for k in range(classes):
        y = header_h + k * (tile_h + pad)
        draw.text((pad, y + (tile_h - text_h) // 2), row_label(k), fill=0, font=font)
        members = labels == k
        if not members.any():
            draw.text((samples_x, y + (tile_h - text_h) // 2), "(no examples)", fill=0, font=font)
            continue
        for i, index in enumerate(np.flatnonzero(members)[:per_class]):
            canvas.paste(tile(images[index]), (samples_x + i * (tile_w + pad), y))
        mean = images[members].mean(axis=0, dtype=np.float64)
        mean_low, mean_high = float(mean.min()), float(mean.max())
        canvas.paste(tile(mean, mean_low, (mean_high - mean_low) or 1.0), (mean_x, y))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    out_png = Path(out_png)
    atomic_write_bytes(out_png, buffer.getvalue())
    return out_png


# --------------------------------------------------------------------------------------------
# verify


def identify(directory: str | Path, catalog: dict | None = None) -> str | None:
    """The catalog dataset whose published sums match most of the files present, or None."""
    catalog = KNOWN if catalog is None else catalog
    return _identify(_present_sums(standard_paths(_check_directory(directory))), catalog)


def _identify(sums: dict[str, str | None], catalog: dict) -> str | None:
    best, best_hits = None, 0
    for name, entry in catalog.items():
        hits = 0
        for key, digest in sums.items():
            spec = entry["files"].get(key, {})
            if digest is not None and (digest in _accepted(spec)
                                       or digest == spec.get("raw_sha256")):
                hits += 1
        if hits > best_hits:
            best, best_hits = name, hits
    return best


def verify(directory: str | Path, name: str | None = None, *, catalog: dict | None = None
           ) -> list[dict]:
    """Check the four standard files of `directory`; a report, one dict per file.

    Each dict: "key" (train_images ...), "file" (the path checked: the gzipped name when
    neither is there), "exists", "structure_ok" (a valid IDX file of the right kind whose
    count agrees with its partner file and, for a known dataset, with the published count;
    None when missing), "count", "shape" (of one image, for image files), "sha256" (of the
    file), "checksum" ("match", "mismatch", "unknown" when no published sum applies, None when
    missing), "dataset" (the catalog name compared with, or None), "ok" and "message" (one line).

    The dataset is `name` if given (a DataError if it is not in the catalog), else the catalog
    entry whose sums match the most files present. A gzipped file is compared with the published
    sums of the compressed file and, if the dataset publishes them, of the uncompressed content
    (so a re-compressed copy still matches); a raw file with the uncompressed sums. A bad file
    is reported, never raised; a missing directory is a DataError.
    """
    catalog = KNOWN if catalog is None else catalog
    directory = _check_directory(directory)
    paths = standard_paths(directory)
    entry = lookup(name, catalog) if name is not None else None
    dataset = _canonical_name(name, catalog) if name is not None else None
    sums = _present_sums(paths)
    if entry is None:
        dataset = _identify(sums, catalog)
        entry = catalog[dataset] if dataset is not None else None

    results: dict[str, dict] = {}
    arrays: dict[str, np.ndarray | None] = {}
    for key, path in paths.items():
        result = {"key": key, "file": str(path), "exists": path.is_file(), "structure_ok": None,
                  "count": None, "shape": None, "sha256": sums.get(key), "checksum": None,
                  "dataset": dataset, "ok": False, "message": ""}
        results[key] = result
        arrays[key] = None
        if not result["exists"]:
            result["message"] = ("is a directory, expected an IDX file" if path.exists()
                                 else "missing")
            continue
        problems = []
        try:
            array = read_idx(path)
        except DataError as e:
            problems.append(_one_line(str(e).removeprefix(f"{path}: ")))
        else:
            arrays[key] = array
            result["count"] = int(array.shape[0])
            if key.endswith("_images"):
                result["shape"] = [int(d) for d in array.shape[1:]]
                if array.ndim < 2:
                    problems.append("expected images (count x rows x columns), got 1 dimension")
            else:
                if array.ndim != 1:
                    problems.append(f"expected a 1-dimensional labels file, got {array.ndim}")
                elif array.dtype.kind not in "iu":
                    problems.append(f"labels must be integers, got {array.dtype}")
                elif array.size and array.min() < 0:
                    problems.append(f"negative label {array.min()}")
            if array.shape[0] == 0:
                problems.append("no examples")
        result["problems"] = problems
        result["checksum"] = _checksum_status(path, sums[key], entry, key)

    for split, (images_key, labels_key) in SPLITS.items():
        images, labels = arrays[images_key], arrays[labels_key]
        if images is not None and labels is not None and len(images) != len(labels):
            results[labels_key]["problems"].append(
                f"{len(labels)} labels for {len(images)} images in {paths[images_key].name}")
        if entry is not None and entry.get("counts", {}).get(split) is not None:
            expected = entry["counts"][split]
            for key in (images_key, labels_key):
                count = results[key]["count"]
                if count is not None and count != expected:
                    results[key]["problems"].append(
                        f"{count} examples, {dataset} has {expected} in its {split} split")

    for key, result in results.items():
        if not result["exists"]:
            continue
        problems = result.pop("problems")
        result["structure_ok"] = not problems
        if result["checksum"] == "mismatch":
            problems.append(f"SHA-256 {result['sha256']} is not the published sum for "
                            f"{dataset}")
        result["ok"] = not problems
        if problems:
            result["message"] = "; ".join(problems)
        else:
            what = ("x".join(map(str, result["shape"])) + " images" if result["shape"] is not None
                    else "labels")
            sum_note = (f"SHA-256 matches {dataset}" if result["checksum"] == "match"
                        else "not a known dataset, no SHA-256 to compare" if dataset is None
                        else f"{dataset} publishes no SHA-256 for this file")
            result["message"] = f"ok: {result['count']} {what}; {sum_note}"
    return [results[key] for key in STANDARD_NAMES]


def _checksum_status(path: Path, digest: str | None, entry: dict | None, key: str) -> str:
    if entry is None or digest is None:  # no sums, or an unreadable file (reported as such)
        return "unknown"
    spec = entry["files"].get(key, {})
    accepted, raw = _accepted(spec), spec.get("raw_sha256")
    if digest in accepted or (raw and digest == raw):
        return "match"
    gzipped = _is_gzip(path)
    if gzipped and raw:  # a re-compressed copy of the published content
        return "match" if _sha256_gunzipped(path) == raw else "mismatch"
    if gzipped:
        return "mismatch" if accepted else "unknown"
    return "unknown"  # a raw file and no published sum of the uncompressed content


# --------------------------------------------------------------------------------------------
# fetch


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
    _make_directory(to)
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
    raise DataError(_one_line(f"cannot fetch {served}: {tried} failed; the last, {last}"))


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
        return _one_line(getattr(e.reason, "strerror", None) or e.reason)
    except TimeoutError:
        return f"timed out (no data for {timeout:g} s after {done} bytes)"
    except http.client.IncompleteRead as e:
        return f"truncated: the connection closed after {done + len(e.partial)} bytes"
    except (http.client.HTTPException, OSError, ValueError) as e:
        return _one_line(f"{type(e).__name__}: {e}")
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
        raise DataError(_one_line(f"{archive['name']}: cannot extract: {e}")) from None
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


# --------------------------------------------------------------------------------------------
# import_csv

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
CSV_CHUNK = 4096  # rows parsed at once


def import_csv(train_csv: str | Path, to: str | Path, *, test_csv: str | Path | None = None,
               image_shape: Sequence[int] | None = None, overwrite: bool = False) -> list[Path]:
    """Convert CSV files (one row per example: label, then one column per pixel) to IDX files.

    `train_csv` becomes `to/train-images-idx3-ubyte.gz` and `train-labels-idx1-ubyte.gz`,
    `test_csv` (if given) the two `t10k-*` files: gzipped IDX with the standard names, written
    atomically, only after every input has been read and checked (so nothing is written when
    an input is bad). Pixels must be integers 0..255 (stored as unsigned bytes); labels
    non-negative integers (stored as bytes, or as 32-bit integers if one exceeds 255).
    An optional header row is recognised by its first cell not being an integer; blank lines
    are skipped. The image shape defaults to the square root of the pixel columns (a DataError
    if that is not a whole number); both files must have the same number of columns.
    Existing output files are refused unless `overwrite`. Returns the paths written.

    Errors are one line naming the file and the 1-based line: ragged rows, cells that are not
    integers, pixels outside 0..255, negative labels, an empty file.
    """
    to = Path(to)
    shape = _given_shape(image_shape)
    sources = [("train", Path(train_csv))]
    if test_csv is not None:
        sources.append(("t10k", Path(test_csv)))
    outputs: list[tuple[Path, np.ndarray]] = []
    first_columns = None
    for prefix, path in sources:
        pixels, labels = _read_csv(path)
        columns = pixels.shape[1]
        if first_columns is not None and columns != first_columns:
            raise DataError(f"{path}: {columns} pixel columns, but {sources[0][1]} has "
                            f"{first_columns}")
        first_columns = columns
        if shape is None:
            shape = _square_shape(path, columns)
        elif math.prod(shape) != columns:
            raise DataError(f"{path}: {columns} pixel columns do not make images of shape "
                            f"{'x'.join(map(str, shape))}")
        label_type = np.uint8 if labels.max() <= 255 else np.dtype(">i4")
        outputs.append((to / (STANDARD_NAMES[f"{_split_of(prefix)}_images"] + ".gz"),
                        pixels.reshape(len(pixels), *shape)))
        outputs.append((to / (STANDARD_NAMES[f"{_split_of(prefix)}_labels"] + ".gz"),
                        labels.astype(label_type)))
    if not overwrite:
        for path, _ in outputs:
            if path.exists():
                raise DataError(f"{path}: already exists (not overwriting it)")
    _make_directory(to)
    for path, array in outputs:
        atomic_write_bytes(path, gzip.compress(idx_bytes(array), compresslevel=6, mtime=0))
    return [path for path, _ in outputs]


def _split_of(prefix: str) -> str:
    return "train" if prefix == "train" else "test"


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of `array` (uint8, int8, or big-endian int16/int32/float32/float64)."""
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    kind = f"{array.dtype.kind}{array.dtype.itemsize}"
    if kind not in codes:
        raise DataError(f"cannot store {array.dtype} values in an IDX file")
    big = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">"))
    header = bytes([0, 0, codes[kind], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + big.tobytes()


def _given_shape(image_shape: Sequence[int] | None) -> tuple[int, ...] | None:
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if not shape or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                            for d in shape):
        raise DataError(f"image shape must be positive integers, got {image_shape!r}")
    return tuple(int(d) for d in shape)


def _square_shape(path: Path, columns: int) -> tuple[int, int]:
    side = math.isqrt(columns)
    if side * side != columns:
        raise DataError(f"{path}: {columns} pixel columns is not a square number; give the "
                        f"image shape (rows x columns)")
    return side, side


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, columns) uint8 and labels (n,) int64 from a CSV file, every cell checked."""
    pixel_parts, label_parts = [], []
    columns = None
    header_line = None
    numbers: list[int] = []
    texts: list[str] = []
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if number == 1:
                    text = text.removeprefix("\ufeff")
                if not text.strip():
                    continue
                if columns is None:
                    cells = text.split(",")
                    if header_line is None and not _INTEGER.fullmatch(cells[0]):
                        header_line = number
                        continue
                    columns = len(cells)
                    if columns < 2:
                        raise DataError(f"{path}: line {number}: {columns} column; expected a "
                                        f"label and at least one pixel")
                numbers.append(number)
                texts.append(text)
                if len(texts) == CSV_CHUNK:
                    labels, pixels = _parse_rows(path, numbers, texts, columns)
                    label_parts.append(labels)
                    pixel_parts.append(pixels)
                    numbers, texts = [], []
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a CSV file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    if texts:
        labels, pixels = _parse_rows(path, numbers, texts, columns)
        label_parts.append(labels)
        pixel_parts.append(pixels)
    if not label_parts:
        if header_line is not None:
            raise DataError(f"{path}: line {header_line}: a header row and no data rows")
        raise DataError(f"{path}: empty file (no data rows)")
    return np.concatenate(pixel_parts), np.concatenate(label_parts)


def _parse_rows(path: Path, numbers: list[int], texts: list[str], columns: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Labels and uint8 pixels of a block of rows; a DataError naming the first bad line."""
    try:
        values = np.loadtxt(texts, delimiter=",", dtype=np.int64, comments=None, ndmin=2)
    except ValueError as e:  # find the culprit the slow way, for a message with its line
        _raise_first_problem(path, numbers, texts, columns)
        raise DataError(_one_line(f"{path}: line {numbers[0]}..{numbers[-1]}: {e}")) from None
    if values.shape != (len(texts), columns):
        _raise_first_problem(path, numbers, texts, columns)
    labels, pixels = values[:, 0], values[:, 1:]
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        row = negative[0]
        raise DataError(f"{path}: line {numbers[row]}: label {labels[row]} is negative")
    if labels.max() > np.iinfo(np.int32).max:
        row = int(np.argmax(labels))
        raise DataError(f"{path}: line {numbers[row]}: label {labels[row]} is too large")
    bad = np.argwhere((pixels < 0) | (pixels > 255))
    if bad.size:
        row, column = bad[0]
        raise DataError(f"{path}: line {numbers[row]}, column {column + 2}: pixel value "
                        f"{pixels[row, column]} is outside 0..255")
    return labels.copy(), pixels.astype(np.uint8)


def _raise_first_problem(path: Path, numbers: Iterable[int], texts: Iterable[str],
                         columns: int) -> None:
    for number, text in zip(numbers, texts):
        cells = text.split(",")
        if len(cells) != columns:
            raise DataError(f"{path}: line {number}: {len(cells)} columns, expected {columns} "
                            f"(a label and {columns - 1} pixels)")
        label = cells[0]
        if not _INTEGER.fullmatch(label):
            raise DataError(f"{path}: line {number}: label {label.strip()!r} is not an integer")
        if int(label) < 0:
            raise DataError(f"{path}: line {number}: label {int(label)} is negative")
        if int(label) > np.iinfo(np.int32).max:
            raise DataError(f"{path}: line {number}: label {int(label)} is too large")
        for column, cell in enumerate(cells[1:], start=2):
            if not _INTEGER.fullmatch(cell):
                raise DataError(f"{path}: line {number}, column {column}: {cell.strip()!r} is "
                                f"not an integer")
            if not 0 <= int(cell) <= 255:
                raise DataError(f"{path}: line {number}, column {column}: pixel value "
                                f"{int(cell)} is outside 0..255")

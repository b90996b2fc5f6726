"""Check a dataset directory (`verify`): a per-file report of presence, IDX structure, counts
and SHA-256 sums against the catalog.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from nnctl.errors import DataError, one_line
from nnctl.io.datasets.catalog import KNOWN, accepted_sums, canonical_name, identify, lookup
from nnctl.io.datasets.layout import MAX_HASHED, SPLITS, check_directory, file_sums, why_unreadable
from nnctl.io.examples import STANDARD_NAMES, standard_paths
from nnctl.io.idx import (
    GZIP_MAGIC,
    check_counts,
    check_image_shape,
    check_labels,
    idx_blocks,
    read_idx,
)
from nnctl.io.inputs import open_regular


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
    paths = standard_paths(check_directory(directory))
    sums = file_sums(paths)
    if name is not None:
        entry, dataset = lookup(name, catalog), canonical_name(name, catalog)
    else:
        dataset = identify(sums, catalog)
        entry = catalog[dataset] if dataset is not None else None
    results = {key: _check_file(key, path, sums.get(key), entry, dataset)
               for key, path in paths.items()}
    _check_splits(results, paths, entry, dataset)
    for result in results.values():
        if result["exists"]:
            _conclude(result, dataset)
    return [results[key] for key in STANDARD_NAMES]


def _check_file(key: str, path: Path, digest: str | None, entry: dict | None,
                dataset: str | None) -> dict:
    """One file's result, its "problems" found alone. The file is read a block at a time
    (`idx.idx_blocks`): a file larger than memory is checked without being held."""
    result = {"key": key, "file": str(path), "exists": path.is_file(), "structure_ok": None,
              "count": None, "shape": None, "sha256": digest, "checksum": None,
              "dataset": dataset, "ok": False, "message": ""}
    if not result["exists"]:  # a FIFO or device is reported, never opened: it could block
        result["message"] = (why_unreadable(path, "an IDX file") if path.exists()
                             else "missing") or "not a regular file"
        return result
    problems = []
    try:
        if key.endswith("_images"):
            with idx_blocks(path) as read:
                result["count"], result["shape"] = int(read.shape[0]), list(read.shape[1:])
                check_image_shape(read.shape, path)
                for _ in read.blocks:  # every value read: the file is whole and well-formed
                    pass
        else:  # labels are a byte each: read whole
            labels = read_idx(path)
            result["count"] = len(labels)
            check_labels(labels, path)
    except DataError as e:  # a count and shape only for a file that reads whole
        result["count"] = result["shape"] = None
        problems.append(_without_path(e, path))
    result["problems"] = problems
    result["checksum"] = _checksum_status(path, digest, entry, key, readable=not problems)
    return result


def _check_splits(results: dict[str, dict], paths: dict[str, Path], entry: dict | None,
                  dataset: str | None) -> None:
    """Add the problems found across files: a label for each image, the published counts."""
    for split, (images_key, labels_key) in SPLITS.items():
        images, labels = results[images_key], results[labels_key]
        if not images.get("problems", True) and not labels.get("problems", True):
            try:
                check_counts(images["count"], labels["count"], paths[images_key].name,
                             paths[labels_key])
            except DataError as e:
                labels["problems"].append(_without_path(e, paths[labels_key]))
        expected = entry.get("counts", {}).get(split) if entry is not None else None
        for key in (images_key, labels_key):
            count = results[key]["count"]
            if expected is not None and count is not None and count != expected:
                results[key]["problems"].append(
                    f"{count} examples, {dataset} has {expected} in its {split} split")


def _conclude(result: dict, dataset: str | None) -> None:
    """Set "structure_ok", "ok" and the one-line "message" of a file that exists."""
    problems = result.pop("problems")
    result["structure_ok"] = not problems
    if result["checksum"] == "mismatch" and result["sha256"] is None:
        problems.append(f"not hashed (more than {MAX_HASHED:,} bytes, or unreadable): not "
                        f"the file {dataset} publishes")
    elif result["checksum"] == "mismatch":
        problems.append(f"SHA-256 {result['sha256']} is not the published sum for {dataset}")
    result["ok"] = not problems
    if problems:
        result["message"] = "; ".join(problems)
        return
    what = ("x".join(map(str, result["shape"])) + " images" if result["shape"] is not None
            else "labels")
    sum_note = (f"SHA-256 matches {dataset}" if result["checksum"] == "match"
                else "not a known dataset, no SHA-256 to compare" if dataset is None
                else f"{dataset} publishes no SHA-256 for this file")
    result["message"] = f"ok: {result['count']} {what}; {sum_note}"


def _without_path(error: DataError, path: Path) -> str:
    """The error's one line without the `path: ` it starts with: the report names the file."""
    return one_line(str(error).removeprefix(f"{path}: "))


def _checksum_status(path: Path, digest: str | None, entry: dict | None, key: str,
                     readable: bool) -> str:
    """"match", "mismatch" or "unknown"; the content of a gzipped file is hashed only when it
    read as a valid IDX file (so its size is bounded by the reader's checks: no gzip bomb)."""
    if entry is None:
        return "unknown"
    spec = entry["files"].get(key, {})
    accepted, raw = accepted_sums(spec), spec.get("raw_sha256")
    if digest is None:  # not hashed: larger than any published file, or unreadable
        return "mismatch" if accepted or raw else "unknown"
    if digest in accepted or (raw and digest == raw):
        return "match"
    gzipped = _is_gzip(path)
    if gzipped and raw and not readable:
        return "mismatch"
    if gzipped and raw:  # a re-compressed copy of the published content
        return "match" if _sha256_gunzipped(path) == raw else "mismatch"
    if gzipped:
        return "mismatch" if accepted else "unknown"
    return "unknown"  # a raw file and no published sum of the uncompressed content


def _sha256_gunzipped(path: Path) -> str | None:
    """SHA-256 of a gzipped file's content, or None if it does not decompress."""
    digest = hashlib.sha256()
    try:
        with open_regular(path, "an IDX file", DataError) as raw, gzip.open(raw, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error, DataError):
        return None
    return digest.hexdigest()


def _is_gzip(path: Path) -> bool:
    try:
        with open_regular(path, "an IDX file", DataError) as f:
            return f.read(2) == GZIP_MAGIC
    except (OSError, DataError):
        return False

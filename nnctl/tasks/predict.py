"""Classify image files (photos, scans, drawings of one digit) with a trained network.

Each file is read within bounds (`nnctl.io.images`), made an MNIST image the way MNIST itself
was made (`nnctl.core.digits`), then made inputs as the checkpoint records
(`nnctl.core.preprocessing.apply_preprocessing`, as in training): pixel / 255, and deskewed if it
says so. All of them go through the network in one batch; what it saw can be saved beside a
contact sheet.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from nnctl.core.activations import softmax
from nnctl.core.digits import mnist_image
from nnctl.core.network import Network
from nnctl.core.preprocessing import apply_preprocessing
from nnctl.errors import DataError, NnctlError
from nnctl.figures.weights import MAX_SHEET_ROWS, SHEET_SIDE, contact_sheet, save_image
from nnctl.io.checkpoint import load_trained
from nnctl.io.examples import PREPROCESSING, recorded_preprocessing
from nnctl.io.images import (
    MAX_IMAGE_PIXELS,
    decode_side,
    grey_levels,
    has_transparency,
    lanczos,
    looks_like_an_image,
    on_backdrop,
    read_image,
)
from nnctl.io.inputs import same_file
from nnctl.io.outputs import check_output_file
from nnctl.tasks.evaluate import in_batches

CANDIDATES = 2  # the next most likely classes reported beside the prediction
CONTACT_SHEET = "contact-sheet.png"  # in --save-preprocessed: each image beside what was seen


# --------------------------------------------------------------------------- files


class Inputs(NamedTuple):
    files: list[Path]  # to classify
    skipped: list[Path]  # found in a directory, not images


def expand_inputs(paths: list[Path]) -> Inputs:
    """Files as given; a directory becomes its image files (sorted by name, not recursive: its
    subdirectories and hidden files are left out), the other entries it holds are listed in
    `skipped`: files that are not images, and what is not a regular file (a FIFO, a socket, a
    device, a dangling link), never opened. A file is an image when its suffix is one of an image
    format, or Pillow recognises its header. A path that does not exist, or a file named
    explicitly, is kept, so that it gets its own error later."""
    files, skipped = [], []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        entries = sorted(p for p in path.iterdir() if not p.name.startswith(".") and not p.is_dir())
        for entry in entries:
            image = entry.is_file() and looks_like_an_image(entry)
            (files if image else skipped).append(entry)
    return Inputs(files, skipped)


def skipped_note(skipped: list[Path], shown: int = 3) -> str:
    """One line naming (some of) the files a directory held that are not images."""
    names = ", ".join(str(p) for p in skipped[:shown]) + (", ..." if len(skipped) > shown else "")
    n = len(skipped)
    count = f"{n} file that is" if n == 1 else f"{n} files that are"
    return f"skipped {count} not an image: {names} (name a file to have it read)"


# --------------------------------------------------------------------------- preprocessing


def preprocess(image: Image.Image, image_shape: tuple[int, int],
               preprocessing: dict = PREPROCESSING) -> np.ndarray:
    """One picture of a digit -> what the network sees: float32 (H, W), the `mnist_image` of its
    grey levels made inputs by a checkpoint's `preprocessing` record (by default pixel / 255:
    [0, 1])."""
    pixels = mnist_image(grey_levels(image), image_shape, lanczos)[None]
    x = apply_preprocessing(pixels, preprocessing, image_shape, "float32")
    return x.reshape(image_shape)


# --------------------------------------------------------------------------- predicting


def probabilities(network: Network, x: np.ndarray) -> np.ndarray:
    """Class probabilities (float64) for a batch of rows, one forward pass for the whole batch.

    With a softmax output they are the network's outputs a^[L] themselves. Otherwise they are a
    softmax over the last layer's z^[L]: for an identity output those are the outputs (perceptron
    and delta-rule scores), for a sigmoid output the logits (a softmax of the sigmoids, all in
    (0, 1), could never exceed e / (e + 9) = 23% with 10 classes). They then read as probabilities
    (positive, summing to 1, ranked like the outputs) but were not trained to be calibrated.
    """
    with np.errstate(all="ignore"):  # outputs that overflow are NaN (null in JSON), silently
        if network.output == "softmax":
            return network.forward(x).astype(np.float64)
        return softmax(network.logits(x).astype(np.float64))


def predict(target: str | Path, paths: list[Path], save_preprocessed: Path | None = None,
            force: bool = False) -> list[dict]:
    """Classify each image file with the network of `target` (a checkpoint, or a run directory's
    checkpoints/best.npz). Directories in `paths` are expanded as by `expand_inputs`.

    One dict per file, in order: {"file", "prediction", "probability", "candidates": [{"digit",
    "probability"}, ...]} (the next two most likely classes, most likely first), or {"file",
    "error"} with a one-line message naming the file; a bad file never stops the others. The
    probability is the network's output for the class when its output is softmax, otherwise a
    softmax over the last layer (see `probabilities`). With `save_preprocessed`, what the network
    saw is written there as an 8-bit grey PNG per image (see `preprocessed_paths`) and its path is
    added to the dict as "preprocessed"; `contact-sheet.png` there shows (the first
    MAX_SHEET_ROWS) images as given beside what the network saw, enlarged, and the prediction.
    """
    path, network, meta, _ = load_trained(target)
    image_shape = network_image_shape(meta, path)
    record = recorded_preprocessing(meta, str(path))
    files = expand_inputs(paths).files
    results: list[dict] = []
    fed: list[np.ndarray] = []
    given: list[Image.Image] = []  # for the contact sheet: the first images as given, small
    for file in files:
        try:
            image = read_image(file, decode_side(image_shape))
            fed.append(preprocess(image, image_shape, record))
            if save_preprocessed is not None and len(given) < MAX_SHEET_ROWS:
                given.append(_as_given(image))
        except NnctlError as e:
            message = str(e) if str(e).startswith(f"{file}:") else f"{file}: {e}"
            results.append({"file": str(file), "error": message})
        else:
            results.append({"file": str(file)})
    if not fed:
        return results

    x = np.stack(fed).reshape(len(fed), -1).astype(network.dtype)
    probs = in_batches(lambda rows: probabilities(network, rows), x)
    ok = [r for r in results if "error" not in r]
    for result, row in zip(ok, probs):
        result.update(ranked(row))
    if save_preprocessed is not None:
        _save_preprocessed(ok, fed, given, Path(save_preprocessed), files, force)
    return results


def ranked(row: np.ndarray) -> dict:
    """One image's class probabilities as `predict` reports them: {"prediction", "probability",
    "candidates": [{"digit", "probability"}, ...]} (the next CANDIDATES classes)."""
    order = [int(k) for k in np.argsort(-row, kind="stable")]  # ties: lower digit first
    return {"prediction": order[0], "probability": float(row[order[0]]),
            "candidates": [{"digit": k, "probability": float(row[k])}
                           for k in order[1 : 1 + CANDIDATES]]}


def _save_preprocessed(ok: list[dict], fed: list[np.ndarray], given: list[Image.Image],
                       directory: Path, inputs: list[Path], force: bool) -> None:
    """What the network saw of each image as a PNG in `directory` (its path added to the result
    as "preprocessed"), and the contact sheet of them all; every path is checked first."""
    outs = preprocessed_paths([Path(r["file"]) for r in ok], directory, inputs, force)
    sheet = check_output_file(directory / CONTACT_SHEET, force, inputs=inputs)
    for result, picture, out in zip(ok, fed, outs):
        _save_png(picture, out)
        result["preprocessed"] = str(out)
    entries = [(Path(r["file"]).name, picture, seen, _prediction_text(r))
               for r, picture, seen in zip(ok, given, fed)]
    save_image(contact_sheet(entries, total=len(ok)), sheet)


def _prediction_text(result: dict) -> str:
    """`7 (98.1%)` over `then 1 (1.2%), 9 (0.3%)`."""
    others = ", ".join(f"{c['digit']} ({c['probability']:.1%})" for c in result["candidates"])
    return f"{result['prediction']} ({result['probability']:.1%})" + (
        f"\nthen {others}" if others else "")


def _as_given(image: Image.Image) -> Image.Image:
    """The image as a person sees it (transparency on the backdrop its strokes show on, see
    `on_backdrop`; 16-bit and float images in grey levels), reduced to fit the contact sheet."""
    if image.mode == "F" or image.mode.startswith("I"):
        image = Image.fromarray(np.rint(grey_levels(image)).astype(np.uint8))
    try:
        shown = (on_backdrop(image) if has_transparency(image) else image).convert("RGB")
    except (ValueError, OSError):  # a mode Pillow cannot show in colour
        shown = Image.fromarray(np.rint(grey_levels(image)).astype(np.uint8)).convert("RGB")
    shown.thumbnail((SHEET_SIDE, SHEET_SIDE))
    return shown


def network_image_shape(meta: dict, path: Path) -> tuple[int, int]:
    """The H x W images the network takes: 2-D, and no larger than the images read."""
    shape = meta.get("image_shape")
    if not isinstance(shape, list) or len(shape) != 2:
        raise DataError(
            f"{path}: the network was trained on inputs of shape {shape}, not 2-D images: "
            "it cannot classify pictures"
        )
    if shape[0] * shape[1] > MAX_IMAGE_PIXELS:
        raise DataError(f"{path}: the network takes {shape[0]}x{shape[1]} images, more pixels "
                        f"than predict prepares ({MAX_IMAGE_PIXELS:,})")
    return int(shape[0]), int(shape[1])


def preprocessed_paths(files: list[Path], directory: Path, inputs: list[Path],
                       force: bool = False) -> list[Path]:
    """Where what the network saw of each file goes: `directory/<file name without its
    suffix>.png` (photo.jpg -> photo.png), `<name>-2.png`, `<name>-3.png`... when names repeat
    (photo.jpg and photo.png), would be the contact sheet's, or would be one of the `inputs`
    (saving into the folder of the images). All are checked before any is written: none may be
    one of the `inputs` (even with `force`), a run's own file, or a file that exists (without
    `force`)."""
    used = {CONTACT_SHEET}
    outs = [_unique_path(directory, Path(file.name).stem or file.name, used, inputs)
            for file in files]
    for out in outs:
        check_output_file(out, force, inputs=inputs)
    return outs


def _unique_path(directory: Path, stem: str, used: set[str], inputs: list[Path]) -> Path:
    """`directory/<stem>.png`, or `<stem>-<k>.png` if taken (case-insensitively: macOS and
    Windows) or one of the `inputs`."""
    candidate, k = f"{stem}.png", 1
    while candidate.casefold() in used or any(same_file(directory / candidate, given)
                                              for given in inputs):
        k += 1
        candidate = f"{stem}-{k}.png"
    used.add(candidate.casefold())
    return directory / candidate


def _save_png(picture: np.ndarray, path: Path) -> None:
    """What the network saw, as 8-bit grey: round(255 x)."""
    pixels = np.rint(picture.astype(np.float64) * 255.0).clip(0, 255).astype(np.uint8)
    save_image(Image.fromarray(pixels), path)

"""Classify image files (photos, scans, drawings of one digit) with a trained network.

Each image is prepared the way MNIST itself was made (LeCun et al.): grey levels, white digit on a
black field, the digit's bounding box scaled to fit a 20x20 box keeping its aspect ratio (for a
network trained on H x W images, a round(20/28 H) x round(20/28 W) box), then pasted into the
H x W field so that its centre of mass sits at the field's centre. Then come the inputs the
checkpoint records (`nnctl.core.preprocessing.apply_preprocessing`, as in training): pixel / 255,
and deskewed if it says so.
"""

from __future__ import annotations

import contextlib
import functools
import io
import threading
import warnings
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nnctl.core.activations import softmax
from nnctl.core.network import Network
from nnctl.core.preprocessing import apply_preprocessing
from nnctl.errors import DataError, NnctlError, one_line
from nnctl.figures.weights import MAX_SHEET_ROWS, SHEET_SIDE, contact_sheet, save_image
from nnctl.io.checkpoint import load_trained
from nnctl.io.examples import PREPROCESSING, recorded_preprocessing
from nnctl.io.inputs import open_regular
from nnctl.io.outputs import check_output_file
from nnctl.tasks.evaluate import in_batches

_RESAMPLING = getattr(Image, "Resampling", Image)  # Pillow >= 9.1 has the enum, older the constants
# MNIST's digits fill a 20x20 box inside the 28x28 field.
BOX_FRACTION = 20 / 28
# A border median above this (on 0..255) means a light background: the image is inverted.
LIGHT_BACKGROUND = 127
# Ink = how much brighter than the background (after inversion) a pixel is, on 0..255. Below
# MIN_CONTRAST at its strongest, the image is blank. The digit's bounding box holds the pixels with
# more than INK_THRESHOLD of the strongest ink that lie within NEAR pixels of strong ink (more
# than STRONG_INK of the strongest): it keeps most of MNIST's faint anti-aliased edges, so an MNIST
# digit comes back nearly unchanged, and drops JPEG ringing and paper texture away from the
# strokes. (Measured on the 10,000 MNIST test digits and on JPEG copies of them: see
# tests/test_predict.py.)
MIN_CONTRAST = 32
INK_THRESHOLD = 0.05
STRONG_INK = 0.3
NEAR = 1
CANDIDATES = 2  # the next most likely classes reported beside the prediction
CONTACT_SHEET = "contact-sheet.png"  # in --save-preprocessed: each image beside what was seen
# Bounds checked before an image is decoded: a crafted file cannot take more time or memory.
MAX_IMAGE_BYTES = 50 << 20
MAX_SIDE = 4096
MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
# A larger image is decoded reduced, by the smallest whole factor that brings its longest side to
# at most this many pixels (or 32 times the network's larger side, if that is more), so more than
# half of it: a digit of a 25th of the image's longest side keeps the 20 pixels of MNIST's box
# (100 MNIST test digits enlarged to 160 pixels on a 4096x4096 page: the same 100 predictions as
# decoded whole; at 80 pixels, 95 the same), and a 4096x4096 image takes tens of MB while it is
# prepared instead of about 450 MB.
DECODE_SIDE = 1024
# Modes Image.reduce averages as they are; the others are first made what grey_levels reads.
REDUCIBLE = ("L", "RGB", "RGBA", "LA", "I", "F")
# An image of more pixels than this, as it is decoded, waits for any other such image to be done:
# a format decoded whole (PNG, WebP...) takes up to about 260 MB at 4096x4096 (a WebP: libwebp's
# frame, its copy as bytes and Pillow's image), two at once more than `nnctl serve` should.
LARGE_PIXELS = 2048 * 2048
_LARGE_DECODE = threading.Lock()
# Formats not read: EPS is handed to Ghostscript (a PostScript program: unbounded time), and
# Pillow only recognises the others (stubs, no decoder).
NOT_READ = ("EPS", "BUFR", "GRIB", "HDF5", "MPEG")


# --------------------------------------------------------------------------- reading


def read_image(path: str | Path, longest: int | None = None) -> Image.Image:
    """Open any image Pillow reads (the format comes from the content, not the name), decoded,
    turned upright by its EXIF orientation; the first frame of an animation. With `longest`
    (see `decode_side`), an image whose longest side is above it is decoded reduced (see
    `_first_frame`), so that it costs memory in proportion to what is kept of it.

    Bounded before decoding: a regular file (never a FIFO or device) of at most MAX_IMAGE_BYTES,
    whose header declares at most MAX_IMAGE_PIXELS. Anything else (missing file, directory,
    empty, not an image, truncated, too large) is a DataError naming the file, in one line.
    """
    path = Path(path)
    with open_regular(path, "an image", DataError, limit=MAX_IMAGE_BYTES) as f:
        return _decode(f, str(path), longest)


def decode_image(data: bytes, name: str, longest: int | None = None) -> Image.Image:
    """`read_image` for an image held in memory (an upload to `nnctl serve`), named `name` in
    its errors; at most MAX_IMAGE_BYTES, bounded in pixels alike."""
    if not data:
        raise DataError(f"{name}: empty, not an image")
    if len(data) > MAX_IMAGE_BYTES:
        raise DataError(f"{name}: {len(data):,} bytes, more than the {MAX_IMAGE_BYTES:,} an image "
                        "may have")
    return _decode(io.BytesIO(data), name, longest)


def decode_side(image_shape: tuple[int, int]) -> int:
    """The longest side an image is decoded at for a network taking `image_shape` inputs:
    DECODE_SIDE, or 32 times the network's larger side if that is more."""
    return max(DECODE_SIDE, 32 * max(image_shape))


def _decode(f: BinaryIO, name: str, longest: int | None) -> Image.Image:
    """The first frame of the image in `f`, its size checked from the header before decoding,
    reduced to at most `longest` on its longest side, turned upright by its EXIF orientation."""
    with warnings.catch_warnings():
        # Pillow's notes on damaged metadata (TIFF tags, EXIF) are not the user's problem
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        # nor is Pillow's warning of a large image: the size is checked below, with a lower limit
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = _first_frame(f, name, longest)
        try:
            return ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001 - a malformed EXIF block must not lose a readable image
            return image


def _first_frame(f: BinaryIO, name: str, longest: int | None) -> Image.Image:
    try:
        with Image.open(f, formats=image_formats()) as opened:
            width, height = opened.size
            if width * height > MAX_IMAGE_PIXELS:
                raise DataError(f"{name}: refused, too many pixels ({width}x{height}; at most "
                                f"{MAX_IMAGE_PIXELS:,}, such as {MAX_SIDE}x{MAX_SIDE})")
            return _loaded(opened, longest)
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image Pillow can read") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{name}: refused, too many pixels ({one_line(e)})") from None
    except (OSError, ValueError, EOFError, SyntaxError, MemoryError) as e:
        # SyntaxError: some of Pillow's decoders report a malformed file with it
        raise DataError(f"{name}: not an image Pillow can read ({one_line(e)})") from None


def _loaded(opened: Image.Image, longest: int | None) -> Image.Image:
    """The image `opened` decoded (then closed); with its longest side above `longest`, reduced
    by the smallest whole factor that brings it to at most `longest`: a JPEG by its decoder
    (which then never holds the whole image: 1/2, 1/4 or 1/8 of it each way), then any image by
    averaging blocks of pixels (`_reduced`). An image of more than LARGE_PIXELS as it is decoded
    waits for any other such image to be done (threads of `nnctl serve`)."""
    factor = _factor(opened.size, longest)
    if factor > 1:
        scale = next(s for s in (8, 4, 2, 1) if factor % s == 0)
        width, height = opened.size
        opened.draft(None, (max(1, width // scale), max(1, height // scale)))  # JPEG only
    large = opened.size[0] * opened.size[1] > LARGE_PIXELS
    with _LARGE_DECODE if large else contextlib.nullcontext():
        opened.load()  # decodes now: a truncated file fails here, not later
        factor = _factor(opened.size, longest)  # what is left to reduce
        image = _reduced(opened, factor) if factor > 1 else opened.copy()
        opened.close()  # its pixels are freed before the next large image is decoded
    return image


def _factor(size: tuple[int, int], longest: int | None) -> int:
    """The smallest whole factor that brings the longest side of `size` to at most `longest`."""
    return -(-max(size) // longest) if longest else 1


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """`image` reduced `factor` times each way, each pixel the average of a block of them,
    averaged in a mode that means what grey_levels reads in `image` (a palette's colours, not
    its indices; transparency as alpha; 16-bit values as integers)."""
    if image.mode in ("RGBa", "La", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")  # as grey_levels composites it
    elif image.mode.startswith("I") and image.mode != "I":
        image = image.convert("I")  # I;16 and its kin: the same values, as grey_levels reads them
    elif image.mode not in REDUCIBLE:
        image = _grey_image(image)  # a palette, 1-bit, CMYK, YCbCr...: their grey levels
    return image.reduce(factor)


@functools.cache
def image_formats() -> tuple[str, ...]:
    """The formats Pillow reads, but those of NOT_READ."""
    Image.init()
    return tuple(name for name in Image.OPEN if name not in NOT_READ)


@functools.cache
def image_suffixes() -> frozenset[str]:
    """File name suffixes (lower case, with the dot) of the formats `read_image` reads."""
    formats = set(image_formats())
    return frozenset(suffix for suffix, name in Image.registered_extensions().items()
                     if name in formats)


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
            image = entry.is_file() and _looks_like_an_image(entry)
            (files if image else skipped).append(entry)
    return Inputs(files, skipped)


def skipped_note(skipped: list[Path], shown: int = 3) -> str:
    """One line naming (some of) the files a directory held that are not images."""
    names = ", ".join(str(p) for p in skipped[:shown]) + (", ..." if len(skipped) > shown else "")
    n = len(skipped)
    count = f"{n} file that is" if n == 1 else f"{n} files that are"
    return f"skipped {count} not an image: {names} (name a file to have it read)"


def _looks_like_an_image(path: Path) -> bool:
    if path.suffix.lower() in image_suffixes():
        return True
    try:
        with warnings.catch_warnings(), open_regular(path, "an image", DataError) as f:
            warnings.simplefilter("ignore")
            Image.open(f, formats=image_formats()).close()  # reads the header only
    except Exception:  # noqa: BLE001 - whatever Pillow makes of it, it is not an image
        return False
    return True


# --------------------------------------------------------------------------- preprocessing


def grey_levels(image: Image.Image) -> np.ndarray:
    """The image as a float32 (height, width) array of grey levels on 0..255 (0 black).

    Transparency is composited on white; palettes are looked up; 16- and 32-bit integer images are
    scaled down from 0..65535 (when they use more than 0..255), float images from 0..1 (when they
    stay within it).
    """
    if image.width == 0 or image.height == 0:
        raise DataError(f"the image has no pixels ({image.width}x{image.height})")
    try:
        return _grey_levels(image)
    except (ValueError, TypeError, OSError) as e:  # Pillow cannot convert this mode
        raise DataError(
            f"cannot turn an image of mode {image.mode} into grey levels ({one_line(e)})"
        ) from None


def _grey_levels(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.float32)
    if mode == "F" or mode.startswith("I"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if mode == "F" and low >= 0.0 and high <= 1.0:
            values = values * 255.0
        elif high > 255.0:
            values = values * (255.0 / max(65535.0, high))
        return np.clip(values, 0.0, 255.0).astype(np.float32)
    return np.asarray(_grey_image(image), dtype=np.float32)


def _grey_image(image: Image.Image) -> Image.Image:
    """An image without transparency in mode L."""
    try:
        return image.convert("L")
    except ValueError:  # a mode Pillow converts to grey only through RGB
        return image.convert("RGB").convert("L")


def box_shape(image_shape: tuple[int, int]) -> tuple[int, int]:
    """The box the digit is scaled to fit: 20x20 in a 28x28 field, in proportion for others."""
    return tuple(max(1, round(BOX_FRACTION * d)) for d in image_shape)


def preprocess(image: Image.Image, image_shape: tuple[int, int],
               preprocessing: dict = PREPROCESSING) -> np.ndarray:
    """One picture of a digit -> what the network sees: float32 (H, W), the `mnist_image` of it
    made inputs by a checkpoint's `preprocessing` record (by default pixel / 255: [0, 1])."""
    pixels = mnist_image(image, image_shape)[None]
    x = apply_preprocessing(pixels, preprocessing, image_shape, "float32")
    return x.reshape(image_shape)


def mnist_image(image: Image.Image, image_shape: tuple[int, int]) -> np.ndarray:
    """One picture of a digit -> an MNIST image of it: float64 (H, W) with values in [0, 255].

    As MNIST was made: grey levels; inverted when the background (the median of the outermost
    rows and columns) is light, so the digit is white on black; the background level subtracted
    and the strongest ink stretched to 255 (a photo's grey paper and grey pencil become MNIST's
    black and white); cropped to the digit's bounding box; scaled (Lanczos) to fit the box of
    `box_shape`, keeping the aspect ratio; pasted into an H x W field with its centre of mass at
    (H/2, W/2) in pixel-index coordinates, where MNIST's are (shifted by whole pixels, clipped so
    the digit stays inside). A digit already prepared like MNIST comes back nearly unchanged.
    A blank image (no pixel MIN_CONTRAST above the background) is a DataError.
    """
    height, width = (int(d) for d in image_shape)
    grey = grey_levels(image)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > LIGHT_BACKGROUND:
        grey, border = 255.0 - grey, 255.0 - border
    ink = np.clip(grey - np.median(border), 0.0, None)
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise DataError(
            f"no digit found: the image is blank (no pixel differs from the background by "
            f"{MIN_CONTRAST} grey levels or more)"
        )
    ink *= 255.0 / strongest
    strong = ink > 255.0 * STRONG_INK
    near = np.zeros_like(strong)  # strong ink grown by NEAR pixels in every direction
    padded = np.pad(strong, NEAR)
    for dy in range(2 * NEAR + 1):
        for dx in range(2 * NEAR + 1):
            near |= padded[dy : dy + strong.shape[0], dx : dx + strong.shape[1]]
    inked = (ink > 255.0 * INK_THRESHOLD) & near
    rows = np.flatnonzero(inked.any(axis=1))
    cols = np.flatnonzero(inked.any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float64)

    box_h, box_w = box_shape((height, width))
    h, w = digit.shape
    scale = min(box_h / h, box_w / w)
    new_h = min(box_h, max(1, round(h * scale)))
    new_w = min(box_w, max(1, round(w * scale)))
    if (new_h, new_w) != (h, w):
        resized = Image.fromarray(digit.astype(np.float32)).resize(
            (new_w, new_h), _RESAMPLING.LANCZOS
        )
        digit = np.clip(np.asarray(resized, dtype=np.float64), 0.0, 255.0)  # Lanczos rings below 0

    mass = digit.sum()
    if mass <= 0.0:  # cannot happen after the checks above; guards the division all the same
        raise DataError("no digit found: nothing left after scaling")
    cy = float((digit.sum(axis=1) * np.arange(new_h)).sum() / mass)
    cx = float((digit.sum(axis=0) * np.arange(new_w)).sum() / mass)
    top = int(np.clip(np.floor(height / 2 - cy + 0.5), 0, height - new_h))
    left = int(np.clip(np.floor(width / 2 - cx + 0.5), 0, width - new_w))
    field = np.zeros((height, width), dtype=np.float64)
    field[top : top + new_h, left : left + new_w] = digit
    return np.clip(field, 0.0, 255.0)  # no 255.00002 from rounding


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
    """The image as a person sees it (transparency on white; 16-bit and float images in grey
    levels), reduced to fit the contact sheet."""
    if image.mode == "F" or image.mode.startswith("I"):
        image = Image.fromarray(np.rint(grey_levels(image)).astype(np.uint8))
    try:
        rgba = image.convert("RGBA")
    except (ValueError, OSError):  # a mode Pillow cannot show in colour
        rgba = Image.fromarray(np.rint(grey_levels(image)).astype(np.uint8)).convert("RGBA")
    shown = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
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
    """Where what the network saw of each file goes: `directory/<file name>.png` (photo.jpg ->
    photo.jpg.png, so that photo.jpg and photo.png never share one), `<file name>-2.png`... when
    names repeat or would be the contact sheet's. All are checked before any is written: none may
    be one of the `inputs` (even with `force`), a run's own file, or a file that exists (without
    `force`)."""
    used = {CONTACT_SHEET}
    outs = [directory / _unique_name(file.name, used) for file in files]
    for out in outs:
        check_output_file(out, force, inputs=inputs)
    return outs


def _unique_name(name: str, used: set[str]) -> str:
    """`<name>.png`, or `<name>-<k>.png` if taken (case-insensitively: macOS and Windows)."""
    candidate, k = f"{name}.png", 1
    while candidate.casefold() in used:
        k += 1
        candidate = f"{name}-{k}.png"
    used.add(candidate.casefold())
    return candidate


def _save_png(picture: np.ndarray, path: Path) -> None:
    """What the network saw, as 8-bit grey: round(255 x)."""
    pixels = np.rint(picture.astype(np.float64) * 255.0).clip(0, 255).astype(np.uint8)
    save_image(Image.fromarray(pixels), path)

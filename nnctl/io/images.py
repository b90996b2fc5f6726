"""Image files and uploads read as Pillow images, within bounds, and their grey levels.

Any format Pillow reads (the format comes from the content, not the name) but those of NOT_READ;
a file or upload is checked (size in bytes, pixels declared in its header) before it is decoded,
and a large image is decoded reduced, so that a crafted file cannot take more time or memory than
a real one. `lanczos` scales grey levels with Pillow's Lanczos filter, for `nnctl.core.digits`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nnctl.errors import DataError, one_line
from nnctl.io.inputs import open_regular

_RESAMPLING = getattr(Image, "Resampling", Image)  # Pillow >= 9.1 has the enum, older the constants
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
# What is drawn on a transparent image is light, and shown on black, when its grey levels
# weighted by opacity average above this; otherwise it is shown on white.
LIGHT_STROKES = 127
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


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
    its indices; an alpha channel as alpha; a transparent colour composited as grey_levels
    composites it; 16-bit values as integers)."""
    if image.mode not in ALPHA_MODES and "transparency" in image.info:
        image = on_backdrop(image)  # opaque: as grey_levels reads it
    elif image.mode in ("RGBa", "La", "PA"):
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


def looks_like_an_image(path: Path) -> bool:
    """Whether `path` is an image: its suffix is one of an image format, or Pillow recognises
    its header (a regular file only, never a FIFO)."""
    if path.suffix.lower() in image_suffixes():
        return True
    try:
        with warnings.catch_warnings(), open_regular(path, "an image", DataError) as f:
            warnings.simplefilter("ignore")
            Image.open(f, formats=image_formats()).close()  # reads the header only
    except Exception:  # noqa: BLE001 - whatever Pillow makes of it, it is not an image
        return False
    return True


# --------------------------------------------------------------------------- grey levels


def grey_levels(image: Image.Image) -> np.ndarray:
    """The image as a float32 (height, width) array of grey levels on 0..255 (0 black).

    Transparency is composited on black when what is drawn is light, else on white (see
    `on_backdrop`); palettes are looked up; 16- and 32-bit integer images are
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
    if has_transparency(image):
        return np.asarray(on_backdrop(image).convert("L"), dtype=np.float32)
    if mode == "F" or mode.startswith("I"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if mode == "F" and low >= 0.0 and high <= 1.0:
            values = values * 255.0
        elif high > 255.0:
            values = values * (255.0 / max(65535.0, high))
        return np.clip(values, 0.0, 255.0).astype(np.float32)
    return np.asarray(_grey_image(image), dtype=np.float32)


def has_transparency(image: Image.Image) -> bool:
    """Whether `image` has an alpha channel or a transparent colour."""
    return image.mode in ALPHA_MODES or "transparency" in image.info


def on_backdrop(image: Image.Image) -> Image.Image:
    """An image with transparency composited (RGBA, opaque) on the backdrop its strokes show on:
    black when it has an alpha channel and what is drawn is light (its grey levels weighted by
    their opacity average above 127: a white digit on a transparent PNG, as dark-mode drawing
    apps export), else white (a transparent colour, as in a GIF, stands for the paper)."""
    rgba = image.convert("RGBA")
    light = False
    if image.mode in ALPHA_MODES:  # a transparent colour (a GIF's, a PNG's tRNS) is the paper's
        pixels = np.asarray(rgba, dtype=np.float64)
        alpha = pixels[..., 3]
        grey = pixels[..., :3] @ np.array([0.299, 0.587, 0.114])
        light = alpha.sum() > 0 and float((grey * alpha).sum() / alpha.sum()) > LIGHT_STROKES
    backdrop = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if light else (255, 255, 255, 255))
    return Image.alpha_composite(backdrop, rgba)


def _grey_image(image: Image.Image) -> Image.Image:
    """An image without transparency in mode L."""
    try:
        return image.convert("L")
    except ValueError:  # a mode Pillow converts to grey only through RGB
        return image.convert("RGB").convert("L")



def lanczos(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Grey levels (height, width) scaled to `shape` (height, width) by Pillow's Lanczos filter,
    in float32 (`nnctl.core.digits.mnist_image` scales a digit into its box with it)."""
    image = Image.fromarray(np.asarray(pixels, dtype=np.float32))
    return np.asarray(image.resize((shape[1], shape[0]), _RESAMPLING.LANCZOS))

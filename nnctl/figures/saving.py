"""Writing a figure in the format its file name says, for matplotlib figures and Pillow pictures
alike: PNG, SVG and PDF for every figure (and the raster formats Pillow writes).

`figure_format` is the one check of a figure's name: commands call it (through
`check_figure_file`) before they read or compute anything, so that `--out x.foo` costs nothing
and writes nothing. Every file is written atomically (nnctl.io.atomic).

matplotlib figures are vector drawings in SVG and PDF (their text is text, the title in the
file's metadata). Pillow pictures (weights, contact sheets, data sets, previews) are drawn in
pixels: their SVG and PDF hold the picture as lossless pixels (PNG inside the SVG, a
Flate-compressed image in the PDF), with the picture's title as the document's title.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from nnctl.errors import OptionError
from nnctl.io.atomic import atomic_file, make_directory
from nnctl.io.outputs import check_output_file

# suffix -> Pillow's name of the format; the first three work for every figure and are named
# first in messages
FORMATS = {".png": "PNG", ".svg": "SVG", ".pdf": "PDF", ".jpg": "JPEG", ".jpeg": "JPEG",
           ".gif": "GIF", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
VECTOR = ("SVG", "PDF")
DPI = 110  # matplotlib figures in raster formats


def figure_format(path: str | Path) -> str:
    """The format a figure named `path` is written in (a value of FORMATS), from its suffix; an
    OptionError (exit status 2) naming the supported suffixes for any other name."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        what = f"the format {suffix}" if suffix else "a name without an extension"
        raise OptionError(f"{path}: cannot write a figure as {what} (supported: "
                          f"{', '.join(FORMATS)})")
    return FORMATS[suffix]


def check_figure_file(path: str | Path, force: bool = False,
                      inputs: Iterable[Path] = ()) -> Path:
    """`path` checked as a figure to write: a supported format (`figure_format`), then as every
    output (`check_output_file`: not a run's file nor an input; an existing file only with
    `force`)."""
    figure_format(path)
    return check_output_file(path, force, inputs=inputs)


def write_figure(figure, path: Path, title: str | None = None) -> Path:
    """A matplotlib Figure into `path`, in the format its name says (PNG at DPI dots per inch;
    SVG with its text as text, PDF with TrueType text; `title`, by default the figure's label,
    in their metadata)."""
    form = figure_format(path)
    title = title or figure.get_label()
    make_directory(path.parent)
    if form in VECTOR or form == "PNG":
        data = figure_bytes(figure, form, title=title)
        with atomic_file(path) as f:
            f.write(data)
        return path
    from PIL import Image

    return write_picture(Image.open(io.BytesIO(figure_bytes(figure))), path, title)


def figure_bytes(figure, form: str = "PNG", dpi: int = DPI, title: str | None = None) -> bytes:
    """A matplotlib Figure drawn in `form` (PNG, SVG or PDF; `title` in a vector file's
    metadata). matplotlib's warnings (a glyph missing from the font for a control character in
    a run's name, numpy's overflow placing the ticks of an axis that reaches 1e308) are not the
    user's: they are never shown."""
    import matplotlib

    buffer = io.BytesIO()
    with warnings.catch_warnings(), np.errstate(all="ignore"), \
            matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        warnings.simplefilter("ignore")
        metadata = {"Title": title} if title and form in VECTOR else None
        figure.savefig(buffer, format=form.lower(), dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def write_picture(picture, path: Path, title: str | None = None, **options) -> Path:
    """A Pillow picture into `path`, in the format its name says; `options` go to Pillow (a GIF's
    frames, say). SVG and PDF hold the pixels losslessly, titled `title` (default: the
    picture's info["title"])."""
    form = figure_format(path)
    title = title or picture.info.get("title")
    with atomic_file(path) as f:
        if form == "SVG":
            f.write(svg_document(picture, title))
        elif form == "PDF":
            picture.convert("RGB").save(f, format="PDF", title=title or path.stem, **options)
        else:
            if form == "JPEG" and picture.mode not in ("RGB", "L"):
                picture = picture.convert("RGB")
            picture.save(f, format=form, **options)
    return path


def svg_document(picture, title: str | None) -> bytes:
    """An SVG of the picture's size showing its pixels (a PNG inside, drawn with square pixels
    when enlarged), with `title` as its <title>."""
    png = io.BytesIO()
    picture.save(png, format="PNG")
    data = base64.b64encode(png.getvalue()).decode("ascii")
    width, height = picture.size
    heading = f"  <title>{escape(title)}</title>\n" if title else ""
    label = f" aria-label={quoteattr(title)}" if title else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" '
            f'xmlns:xlink="http://www.w3.org/1999/xlink" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img"{label}>\n{heading}'
            f'  <image width="{width}" height="{height}" style="image-rendering:pixelated" '
            f'xlink:href="data:image/png;base64,{data}"/>\n</svg>\n').encode()

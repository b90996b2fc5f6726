"""Weights as pictures: templates and hidden-unit filters as PNG grids, their change as a GIF;
and the contact sheet of what `predict` fed the network.

Each weight vector is drawn in the input's image shape with a diverging colour map on a symmetric
scale of its own (-max|w| blue, 0 white, +max|w| red), upscaled with square pixels. Every figure
carries a title, a colour bar saying what the colours mean and the scale of each tile.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nnctl.core.network import Network
from nnctl.errors import CheckpointError
from nnctl.figures.names import checkpoint_name
from nnctl.figures.saving import figure_format, write_picture
from nnctl.io.checkpoint import load_checkpoint, load_snapshot, resolve_checkpoint
from nnctl.io.outputs import check_output_file
from nnctl.io.run_dir import is_run
from nnctl.io.run_info import find_runs
from nnctl.terminal import shown

BLUE = np.array([33, 102, 172], dtype=np.float64)  # ColorBrewer RdBu ends
RED = np.array([178, 24, 43], dtype=np.float64)
WHITE = np.array([255, 255, 255], dtype=np.float64)
GREY = (90, 90, 90)
FRAME = (200, 200, 200)
BLUE_TEXT, RED_TEXT = tuple(int(c) for c in BLUE), tuple(int(c) for c in RED)
LABEL_HEIGHT = 19  # the label line of `grid`
PAD = 4
GAP = 8  # between the parts of a figure
TITLE_SIZE, TEXT_SIZE, SMALL_SIZE = 17, 14, 12  # font sizes in pixels
BAR_WIDTH, BAR_HEIGHT = 240, 16
TILE_EXTRA = (10, 45)  # pixels a tile takes beyond its own: frame, gaps, name and scale lines
TEMPLATE_COLUMNS, FILTER_COLUMNS = 5, 10
SHEET_SIDE = 112  # pixels of each picture on predict's contact sheet
MAX_SHEET_ROWS = 100
MAX_DRAWN_PIXELS = 50_000_000  # one picture, RGB: 150 MB
MAX_EPOCHS_SHOWN = 50  # rows of the montage, frames of the GIF
EVOLUTION_UNITS, EVOLUTION_ZOOM = 10, 3  # columns of the montage and their pixels per weight
# checkpoints/epoch-NNN.npz (training.keep: all) or layer1-NNN.npy (training.keep: best-last)
EPOCH_FILE = re.compile(r"(?:epoch-(\d+)\.npz|layer1-(\d+)\.npy)")
PER_TILE = "each tile on its own scale, ±max|w| of the tile (printed under it)"
ONE_TILE = "drawn on the scale ±max|w| of its weights (printed under it)"
PER_COLUMN = "each column on one scale for all epochs, ±max|w| of the unit (printed under its name)"


def save_image(picture: Image.Image, path: Path, title: str | None = None, **options) -> Path:
    """Write a picture atomically, in the format its name says (.png, .svg, .pdf, .gif...; see
    nnctl.figures.saving.write_picture), titled `title` (default: its info["title"])."""
    return write_picture(picture, path, title, **options)


def titled(picture: Image.Image, title: str) -> Image.Image:
    """`picture`, carrying `title` for the files that keep one (SVG, PDF)."""
    picture.info["title"] = title
    return picture


# --------------------------------------------------------------------------- drawing blocks


@functools.cache
def font(size: int) -> ImageFont.ImageFont:
    """DejaVu Sans (shipped with matplotlib: has ±, −, ×) at `size` pixels; Pillow's own font if
    it cannot be loaded."""
    import matplotlib

    try:
        return ImageFont.truetype(
            os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size)
    except OSError:
        return ImageFont.load_default()


def text_block(text: str, size: int = TEXT_SIZE, fill: tuple | str = "black") -> Image.Image:
    """Text (lines split at newlines) on white, cut to its own size."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    *_, right, bottom = measure.multiline_textbbox((0, 0), text, font=font(size), spacing=3)
    block = Image.new("RGB", (max(1, right), max(1, bottom + 2)), "white")
    ImageDraw.Draw(block).multiline_text((0, 0), text, fill=fill, font=font(size), spacing=3)
    return block


def stack(parts: list[Image.Image], gap: int = GAP, horizontal: bool = False) -> Image.Image:
    """Pictures one below the other (or side by side), aligned left (top), on white."""
    along = [p.width if horizontal else p.height for p in parts]
    across = max(p.height if horizontal else p.width for p in parts)
    length = sum(along) + gap * (len(parts) - 1)
    canvas = Image.new("RGB", (length, across) if horizontal else (across, length), "white")
    offset = 0
    for part, size in zip(parts, along):
        canvas.paste(part, (offset, 0) if horizontal else (0, offset))
        offset += size + gap
    return canvas


def table(rows: list[list[Image.Image]], gap: int = PAD * 2) -> Image.Image:
    """Pictures in rows and columns, each column as wide as its widest cell, each row as high as
    its highest."""
    widths = [max(row[k].width for row in rows if k < len(row))
              for k in range(max(map(len, rows)))]
    heights = [max(cell.height for cell in row) for row in rows]
    canvas = Image.new("RGB", (sum(widths) + gap * (len(widths) - 1),
                               sum(heights) + gap * (len(heights) - 1)), "white")
    y = 0
    for row, height in zip(rows, heights):
        x = 0
        for cell, width in zip(row, widths):
            canvas.paste(cell, (x, y))
            x += width + gap
        y += height + gap
    return canvas


def with_margin(picture: Image.Image, margin: int = 12) -> Image.Image:
    canvas = Image.new("RGB", (picture.width + 2 * margin, picture.height + 2 * margin), "white")
    canvas.paste(picture, (margin, margin))
    return canvas


def number(value: float) -> str:
    """A weight scale in 3 significant digits (no exponent up to 999,999)."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def grid(tiles: list[Image.Image], labels: list[str], columns: int,
         title: str | None = None) -> Image.Image:
    """Tiles in rows of `columns`, each with its label above (TEXT_SIZE pixels; a label may
    run over the empty labels to its right); an optional title on top, in TITLE_SIZE pixels
    (`nnctl data info --figure`'s layout)."""
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    heading = text_block(title, TITLE_SIZE) if title else None
    top = heading.height + PAD if heading else 0
    cell_w, cell_h = w + PAD, h + LABEL_HEIGHT + PAD
    width = max(columns * cell_w + PAD, heading.width + 2 * PAD if heading else 0)
    canvas = Image.new("RGB", (width, top + rows * cell_h + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    if heading:
        canvas.paste(heading, (PAD, PAD))
    for i, (picture, label) in enumerate(zip(tiles, labels)):
        x = PAD + (i % columns) * cell_w
        y = top + PAD + (i // columns) * cell_h
        draw.text((x, y), label, fill="black", font=font(TEXT_SIZE))
        canvas.paste(picture, (x, y + LABEL_HEIGHT))
    return titled(canvas, title) if title else canvas


# --------------------------------------------------------------------------- weights


def diverging(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """A 2-D array -> RGB uint8: negative blue, zero white, positive red, on the scale +-limit
    (default max|values|; values beyond it take the end colours)."""
    limit = limit or float(np.abs(values).max()) or 1.0
    t = np.clip(values / limit, -1.0, 1.0)[..., None]
    rgb = np.where(t >= 0, WHITE + t * (RED - WHITE), WHITE - t * (BLUE - WHITE))
    return np.rint(rgb).astype(np.uint8)


def as_image(weights: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """One unit's weight vector in the input's shape (2-D; other shapes are laid out as rows)."""
    if len(image_shape) == 2:
        return weights.reshape(image_shape)
    rows = image_shape[0] if len(image_shape) > 2 else 1
    return weights.reshape(rows, -1)


def tile(weights: np.ndarray, image_shape: tuple[int, ...], zoom: int,
         limit: float | None = None) -> Image.Image:
    """One weight vector in colour (see `diverging`), upscaled `zoom` times, in a thin frame."""
    picture = Image.fromarray(diverging(as_image(weights, image_shape), limit), "RGB")
    picture = picture.resize((picture.width * zoom, picture.height * zoom), Image.NEAREST)
    framed = Image.new("RGB", (picture.width + 2, picture.height + 2), FRAME)
    framed.paste(picture, (1, 1))
    return framed


def scale_text(limit: float) -> str:
    return f"scale ±{number(limit)}" if limit > 0 else "all zero"


def colour_bar(note: str) -> Image.Image:
    """The legend of a weight figure: the colour map from -max|w| to +max|w| with what its colours
    mean, and `note` saying which maximum each tile is drawn on."""
    ramp = np.repeat(np.linspace(-1.0, 1.0, BAR_WIDTH)[None, :], BAR_HEIGHT, axis=0)
    bar = Image.fromarray(diverging(ramp, 1.0), "RGB")
    ImageDraw.Draw(bar).rectangle((0, 0, BAR_WIDTH - 1, BAR_HEIGHT - 1), outline=GREY)
    ticks = Image.new("RGB", (BAR_WIDTH, SMALL_SIZE + 4), "white")
    draw = ImageDraw.Draw(ticks)
    small = font(SMALL_SIZE)
    draw.text((0, 0), "−max|w|", fill="black", font=small)
    draw.text((BAR_WIDTH // 2, 0), "0", fill="black", font=small, anchor="ma")
    draw.text((BAR_WIDTH, 0), "+max|w|", fill="black", font=small, anchor="ra")
    scale = stack([text_block("negative", SMALL_SIZE, BLUE_TEXT), stack([bar, ticks], gap=2),
                   text_block("positive", SMALL_SIZE, RED_TEXT)], horizontal=True)
    words = text_block("colour = weight w: red positive (ink on a red pixel raises the unit's\n"
                       f"input z), blue negative (ink there lowers it), white zero;\n{note}",
                       SMALL_SIZE)
    return stack([scale, words], gap=4)


def first_weights(network: Network, units: int) -> np.ndarray:
    """The first layer's weight vectors (one row per unit), at most `units` of them."""
    return network.weights[0][:units]


def unit_names(network: Network, count: int) -> list[str]:
    """The templates of a single layer are named by their digit, else hidden units by index."""
    single = len(network.weights) == 1
    return [f"digit {k}" if single else f"unit {k}" for k in range(count)]


def tile_cell(weights: np.ndarray, name: str, image_shape: tuple[int, ...],
              zoom: int) -> Image.Image:
    """One weight vector as a tile on its own scale, its name above and its ±max|w| below."""
    limit = float(np.abs(weights).max())
    return stack([text_block(name), tile(weights, image_shape, zoom),
                  text_block(scale_text(limit), SMALL_SIZE, GREY)], gap=3)


def tiles_figure(W: np.ndarray, names: list[str], image_shape: tuple[int, ...], zoom: int,
                 title: str, columns: int) -> Image.Image:
    """Title, colour bar, and the weight vectors as tiles in rows of `columns`."""
    cells = [tile_cell(w, name, image_shape, zoom) for w, name in zip(W, names)]
    rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    legend = colour_bar(PER_TILE if len(cells) > 1 else ONE_TILE)
    return titled(with_margin(stack([text_block(title, TITLE_SIZE), legend, table(rows)])), title)


def shape_text(image_shape: tuple[int, ...]) -> str:
    return "×".join(map(str, image_shape))


def check_size(tiles: int, image_shape: tuple[int, ...], zoom: int, path: Path) -> None:
    """Refuse to draw `tiles` weight tiles that would take more than MAX_DRAWN_PIXELS."""
    rows = image_shape[0] if len(image_shape) >= 2 else 1
    height, width = rows * zoom, math.prod(image_shape) // rows * zoom
    pixels = tiles * (width + TILE_EXTRA[0]) * (height + TILE_EXTRA[1])
    if pixels > MAX_DRAWN_PIXELS:
        raise CheckpointError(
            f"{path}: {tiles} tiles of {height}x{width} pixels are too many to draw ({pixels:,} "
            f"pixels, at most {MAX_DRAWN_PIXELS:,}); use a smaller --zoom or --units")


def weight_pictures(network: Network, image_shape: tuple[int, ...], units: int = 100,
                    zoom: int = 4, name: str | None = None) -> dict[str, Image.Image]:
    """Single layer: templates.png and template-<k>.png; multi-layer: hidden-units.png; titled
    with the network's `name` (a run's, a checkpoint's) when given."""
    W = first_weights(network, units)
    names = unit_names(network, len(W))
    shape = shape_text(image_shape)
    of = f" of {name}" if name else ""
    if len(network.weights) > 1:
        title = (f"First-layer filters{of}: the input weights of hidden units 0–{len(W) - 1} "
                 f"(of {network.sizes[1]}), each drawn as a {shape} image")
        columns = min(len(W), FILTER_COLUMNS)
        return {"hidden-units.png": tiles_figure(W, names, image_shape, zoom, title, columns)}
    title = (f"Templates{of}: the weights of the output unit of each digit, drawn as a {shape} "
             "image")
    columns = min(len(W), TEMPLATE_COLUMNS)
    pictures = {"templates.png": tiles_figure(W, names, image_shape, zoom, title, columns)}
    for k, unit in enumerate(names):
        pictures[f"template-{k}.png"] = tiles_figure(W[k : k + 1], [unit], image_shape, 2 * zoom,
                                                     f"Template of {unit}{of}", 1)
    return pictures


def picture_names(network: Network, units: int, epochs: bool) -> list[str]:
    """The names of the files `weight_pictures` (and, with `epochs`, `evolution_pictures`) draw
    for `network`, in PNG."""
    if len(network.weights) > 1:
        names = ["hidden-units.png"]
    else:
        names = ["templates.png", *(f"template-{k}.png" for k in range(min(units,
                                                                           network.sizes[1])))]
    return names + (["weights-by-epoch.png", "weights-by-epoch.gif"] if epochs else [])


# --------------------------------------------------------------------------- weights by epoch


def epoch_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """A run's epoch checkpoints (or first-layer snapshots) by epoch; at most MAX_EPOCHS_SHOWN
    of them, evenly spread from the first to the last."""
    by_epoch: dict[int, Path] = {}
    for path in sorted(run_dir.glob("checkpoints/*")):
        match = EPOCH_FILE.fullmatch(path.name)
        if match:
            by_epoch.setdefault(int(match[1] or match[2]), path)  # a checkpoint before a snapshot
    found = sorted(by_epoch.items())
    if len(found) <= MAX_EPOCHS_SHOWN:
        return found
    picks = np.linspace(0, len(found) - 1, MAX_EPOCHS_SHOWN).round().astype(int)
    return [found[k] for k in sorted(set(picks.tolist()))]


def epoch_weights(epochs: list[tuple[int, Path]], network: Network, image_shape: tuple[int, ...],
                  units: int) -> list[tuple[int, np.ndarray]]:
    """The first-layer weights (at most `units` rows) of each epoch's checkpoint, which must have
    the layer sizes and image shape of `network`."""
    snapshots = []
    for epoch, path in epochs:
        if path.suffix == ".npy":  # the first layer's first units only (training.keep: best-last)
            snapshots.append((epoch, load_snapshot(path, network.sizes[0])[:units]))
            continue
        snapshot, meta = load_checkpoint(path)
        if snapshot.sizes != network.sizes or tuple(meta["image_shape"]) != image_shape:
            raise CheckpointError(f"{path}: layer sizes {snapshot.sizes} or image shape "
                                  f"{meta['image_shape']} differ from those of the run's best.npz")
        snapshots.append((epoch, first_weights(snapshot, units)))
    rows = min(len(W) for _, W in snapshots) if snapshots else 0
    return [(epoch, W[:rows]) for epoch, W in snapshots]  # snapshots keep SNAPSHOT_UNITS rows


def epoch_caption(epoch: int, W: np.ndarray, separator: str = "\n", last: int | None = None) -> str:
    """`epoch 3` (`epoch 3 of 10` given the `last`); epoch 0 says it holds the initial weights,
    and whether they are all zero."""
    caption = f"epoch {epoch}" + (f" of {last}" if last is not None else "")
    if epoch != 0:
        return caption
    zero = f"{separator}(all zero)" if not W.any() else ""
    return f"{caption}:{separator}initial weights{zero}"


def evolution_pictures(run_dir: Path, network: Network, image_shape: tuple[int, ...],
                       units: int = EVOLUTION_UNITS, zoom: int = EVOLUTION_ZOOM,
                       snapshots: list[tuple[int, np.ndarray]] | None = None,
                       ) -> dict[str, tuple[Image.Image, dict]]:
    """The change of the weights during training: a montage (a row per epoch) and an animated GIF,
    with their save options; none when the run has no epoch checkpoints. Each unit (column) is
    drawn on one scale over all epochs, so that the growth of its weights shows. `snapshots`:
    the run's weights by epoch already read (`epoch_weights`), else they are read here."""
    if snapshots is None:
        epochs = epoch_checkpoints(run_dir)
        check_size(2 * len(epochs) * min(units, network.sizes[1]), image_shape, zoom, run_dir)
        snapshots = epoch_weights(epochs, network, image_shape, units)
    if not snapshots:
        return {}
    limits = np.abs(np.stack([W for _, W in snapshots])).max(axis=(0, 2))
    header = [text_block(f"{name}\n{scale_text(limit)}")
              for name, limit in zip(unit_names(network, len(limits)), limits)]
    rows = [[tile(w, image_shape, zoom, limit) for w, limit in zip(W, limits)]
            for _, W in snapshots]
    what = "templates" if len(network.weights) == 1 else "first-layer filters"
    title = f"The {what} of run {shown(run_dir.resolve().name)}"
    table_rows = [[Image.new("RGB", (1, 1), "white"), *header]]
    table_rows += [[text_block(epoch_caption(epoch, W)), *row]
                   for (epoch, W), row in zip(snapshots, rows)]
    heading = text_block(f"{title} during training, one row per epoch", TITLE_SIZE)
    montage = titled(with_margin(stack([heading, colour_bar(PER_COLUMN), table(table_rows)])),
                     f"{title} during training")
    frames = shared_palette(animation_frames(title, snapshots, header, rows))
    animation = {"save_all": True, "append_images": frames[1:], "duration": 600, "loop": 0}
    return {"weights-by-epoch.png": (montage, {}), "weights-by-epoch.gif": (frames[0], animation)}


def animation_frames(title: str, snapshots: list[tuple[int, np.ndarray]],
                     header: list[Image.Image], rows: list[list[Image.Image]]) -> list[Image.Image]:
    """One frame per epoch, all of one size: title and epoch, colour bar, the unit names, the row
    of tiles."""
    last = snapshots[-1][0]
    legend = colour_bar(PER_COLUMN)
    return same_size([with_margin(stack([
        text_block(f"{title}, {epoch_caption(epoch, W, ' ', last)}", TITLE_SIZE), legend,
        table([header, row])])) for (epoch, W), row in zip(snapshots, rows)])


def shared_palette(frames: list[Image.Image]) -> list[Image.Image]:
    """GIF frames in one palette of 256 colours: the colour map's ramp and greys (text, frames),
    nearest colour, no dithering; so colours keep still from frame to frame."""
    ramp = diverging(np.linspace(-1.0, 1.0, 222)[None, :], 1.0)[0]
    greys = np.repeat(np.linspace(0, 255, 32).round()[:, None], 3, axis=1)
    colours = np.concatenate([ramp, greys, [FRAME, GREY]]).astype(np.uint8)
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours.ravel().tolist())
    no_dither = getattr(Image, "Dither", Image).NONE  # Pillow < 9.1: a module constant
    return [frame.quantize(palette=palette, dither=no_dither) for frame in frames]


def same_size(pictures: list[Image.Image]) -> list[Image.Image]:
    """Pictures on white canvases of the largest width and height among them (GIF frames)."""
    size = (max(p.width for p in pictures), max(p.height for p in pictures))
    canvases = []
    for picture in pictures:
        canvas = Image.new("RGB", size, "white")
        canvas.paste(picture, (0, 0))
        canvases.append(canvas)
    return canvases


# --------------------------------------------------------------------------- predict's inputs


def fit(picture: Image.Image, side: int) -> Image.Image:
    """`picture` scaled to fit a side x side box, keeping its aspect ratio: enlarged with square
    pixels, reduced smoothly; framed in grey."""
    scale = side / max(picture.size)
    size = tuple(max(1, round(d * scale)) for d in picture.size)
    resized = picture.convert("RGB").resize(size, Image.NEAREST if scale > 1 else Image.LANCZOS)
    framed = Image.new("RGB", (size[0] + 2, size[1] + 2), GREY)
    framed.paste(resized, (1, 1))
    return framed


def contact_sheet(entries: list[tuple[str, Image.Image, np.ndarray, str]],
                  total: int | None = None) -> Image.Image:
    """One row per (file name, image as given, what the network saw in [0, 1], prediction text
    whose first line is drawn large):
    the image as given and what the network saw side by side, enlarged to SHEET_SIDE pixels,
    the latter with square pixels (a whole zoom factor). `total`: images classified in all, when
    the sheet shows only the first of them."""
    shape = entries[0][2].shape
    zoom = max(1, SHEET_SIDE // max(shape))
    header = [text_block(text, TEXT_SIZE, GREY) for text in (
        "file", "image as given", f"what the network saw\n({shape_text(shape)} pixels, ×{zoom})",
        "predicted digit (probability)\nand the next two")]
    rows = [header]
    for name, given, seen, prediction in entries:
        pixels = Image.fromarray(np.rint(seen * 255.0).clip(0, 255).astype(np.uint8), "L")
        network_view = pixels.resize((shape[1] * zoom, shape[0] * zoom), Image.NEAREST)
        first, _, rest = prediction.partition("\n")
        said = stack([text_block(first, 2 * TEXT_SIZE), text_block(rest, TEXT_SIZE, GREY)], gap=4)
        rows.append([text_block(shorten(name)), fit(given, SHEET_SIDE), network_view, said])
    shown = f" (the first {len(entries)} of {total})" if total and total > len(entries) else ""
    title = f"What the network saw of each image, and what it predicted{shown}"
    return titled(with_margin(stack([text_block(title, TITLE_SIZE), table(rows, gap=12)])), title)


def shorten(name: str, length: int = 32) -> str:
    """A file name cut in the middle to at most `length` characters."""
    if len(name) <= length:
        return name
    half = (length - 1) // 2
    return f"{name[:half]}…{name[-(length - 1 - half):]}"


def inspect_weights(target: str | Path, out_dir: str | Path, units: int = 100, zoom: int = 4,
                    force: bool = False, fmt: str = "png") -> list[Path]:
    """Draw a checkpoint's weights; for a run directory also their change epoch by epoch; for a
    folder of runs (as `nnctl runs` finds them), each run's into `out_dir/<its path in the
    folder>`. Figures are written as `fmt` (png, svg, pdf...; the animation stays a GIF) and
    titled with the run's name.

    `fmt` is checked first; then every checkpoint is read, and then every output file checked
    (see `check_output_file`: none may exist without `force`), before the first one is written;
    a run's pictures are drawn and written before the next run's are drawn.
    """
    suffix = f".{fmt.lower()}"
    figure_format(f"weights{suffix}")
    sources = [(_weights_of(source, units, zoom), directory)
               for source, directory in weight_targets(Path(target), Path(out_dir))]
    outs = [{name: check_output_file(directory / _file_name(name, suffix), force)
             for name in picture_names(weights.network, units, bool(weights.epochs))}
            for weights, directory in sources]
    written = []
    for (weights, _), files in zip(sources, outs):
        pictures = {name: (picture, {}) for name, picture in weight_pictures(
            weights.network, weights.image_shape, units, zoom,
            checkpoint_name(weights.source)).items()}
        if weights.epochs:
            pictures.update(evolution_pictures(weights.source, weights.network,
                                               weights.image_shape, snapshots=weights.epochs))
        written += [save_image(picture, files[name], **options)
                    for name, (picture, options) in pictures.items()]
    return written


def weight_targets(target: Path, out_dir: Path) -> list[tuple[Path, Path]]:
    """(checkpoint or run, output directory) pairs: `target` into `out_dir`, or, for a folder
    that is not a run, each run below it into `out_dir/<its path below the folder>`."""
    if not target.is_dir() or is_run(target) or (target / "checkpoints" / "best.npz").exists():
        return [(target, out_dir)]
    runs = find_runs([target])
    if not runs:
        raise CheckpointError(f"{target}: not a run directory (no checkpoints/best.npz), and no "
                              "run directory below it")
    return [(run, out_dir / run.relative_to(target)) for run in runs]


@dataclass
class Weights:
    """What `inspect_weights` draws of one checkpoint or run: read and checked, not drawn."""

    source: Path  # the checkpoint or run directory given
    network: Network
    image_shape: tuple[int, ...]
    epochs: list[tuple[int, np.ndarray]]  # a run's first-layer weights by epoch (`epoch_weights`)


def _weights_of(source: Path, units: int, zoom: int) -> Weights:
    """The network of `source` and, for a run, its weights epoch by epoch; their pictures'
    sizes checked (`check_size`)."""
    path = resolve_checkpoint(source)
    network, meta = load_checkpoint(path)
    image_shape = tuple(meta["image_shape"])
    check_size(min(units, network.sizes[1]), image_shape, zoom, path)
    epochs = epoch_checkpoints(source) if source.is_dir() else []
    if epochs:
        check_size(2 * len(epochs) * min(EVOLUTION_UNITS, network.sizes[1]), image_shape,
                   EVOLUTION_ZOOM, source)
    snapshots = epoch_weights(epochs, network, image_shape, EVOLUTION_UNITS)
    return Weights(source, network, image_shape, snapshots)


def _file_name(name: str, suffix: str) -> str:
    """A picture's PNG name in the format of `suffix` (the animation stays a GIF)."""
    return name if name.endswith(".gif") else Path(name).stem + suffix

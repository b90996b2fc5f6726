"""Weights as pictures: templates and hidden-unit filters as PNG grids, their change as a GIF.

Each weight vector is drawn in the input's image shape with a diverging colour map on a symmetric
scale of its own (-max|w| blue, 0 white, +max|w| red), upscaled with square pixels.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nnctl.atomic import atomic_file
from nnctl.checkpoint import load_checkpoint, resolve_checkpoint
from nnctl.errors import CheckpointError
from nnctl.network import Network
from nnctl.outputs import check_output_file

BLUE = np.array([33, 102, 172], dtype=np.float64)  # ColorBrewer RdBu ends
RED = np.array([178, 24, 43], dtype=np.float64)
WHITE = np.array([255, 255, 255], dtype=np.float64)
LABEL_HEIGHT = 14
PAD = 4
MAX_DRAWN_PIXELS = 50_000_000  # one picture, RGB: 150 MB
MAX_EPOCHS_SHOWN = 50  # rows of the montage, frames of the GIF
EPOCH_FILE = re.compile(r"epoch-(\d+)\.npz")


def save_image(picture: Image.Image, path: Path, **options) -> Path:
    """Write a picture atomically, in the format its name says (.png, .gif...)."""
    form = Image.registered_extensions()[path.suffix.lower()]
    with atomic_file(path) as f:
        picture.save(f, format=form, **options)
    return path


def diverging(values: np.ndarray) -> np.ndarray:
    """A 2-D array -> RGB uint8: negative blue, zero white, positive red, scale +-max|values|."""
    limit = float(np.abs(values).max()) or 1.0
    t = np.clip(values / limit, -1.0, 1.0)[..., None]
    rgb = np.where(t >= 0, WHITE + t * (RED - WHITE), WHITE - t * (BLUE - WHITE))
    return np.rint(rgb).astype(np.uint8)


def as_image(weights: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """One unit's weight vector in the input's shape (2-D; other shapes are laid out as rows)."""
    if len(image_shape) == 2:
        return weights.reshape(image_shape)
    rows = image_shape[0] if len(image_shape) > 2 else 1
    return weights.reshape(rows, -1)


def tile(weights: np.ndarray, image_shape: tuple[int, ...], zoom: int) -> Image.Image:
    picture = Image.fromarray(diverging(as_image(weights, image_shape)), "RGB")
    return picture.resize((picture.width * zoom, picture.height * zoom), Image.NEAREST)


def grid(tiles: list[Image.Image], labels: list[str], columns: int,
         title: str | None = None) -> Image.Image:
    """Tiles in rows of `columns`, each with its label above; an optional title on top."""
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    top = LABEL_HEIGHT + PAD if title else 0
    cell_w, cell_h = w + PAD, h + LABEL_HEIGHT + PAD
    canvas = Image.new("RGB", (columns * cell_w + PAD, top + rows * cell_h + PAD), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    if title:
        draw.text((PAD, PAD), title, fill="black", font=font)
    for i, (picture, label) in enumerate(zip(tiles, labels)):
        x = PAD + (i % columns) * cell_w
        y = top + PAD + (i // columns) * cell_h
        draw.text((x, y), label, fill="black", font=font)
        canvas.paste(picture, (x, y + LABEL_HEIGHT))
    return canvas


def unit_tiles(network: Network, image_shape: tuple[int, ...], units: int,
               zoom: int) -> tuple[list, list]:
    """First-layer weight vectors as tiles, at most `units`: the templates of a single layer,
    else hidden filters."""
    W = network.weights[0]
    single = len(network.weights) == 1
    count = min(units, W.shape[0])
    labels = [f"digit {k}" if single else f"unit {k}" for k in range(count)]
    return [tile(W[k], image_shape, zoom) for k in range(count)], labels


def check_size(tiles: int, image_shape: tuple[int, ...], zoom: int, path: Path) -> None:
    """Refuse to draw `tiles` weight tiles that would take more than MAX_DRAWN_PIXELS."""
    rows = image_shape[0] if len(image_shape) >= 2 else 1
    height, width = rows * zoom, math.prod(image_shape) // rows * zoom
    pixels = tiles * (width + PAD) * (height + LABEL_HEIGHT + PAD)
    if pixels > MAX_DRAWN_PIXELS:
        raise CheckpointError(
            f"{path}: {tiles} tiles of {height}x{width} pixels are too many to draw ({pixels:,} "
            f"pixels, at most {MAX_DRAWN_PIXELS:,}); use a smaller --zoom or --units")


def weight_pictures(network: Network, image_shape: tuple[int, ...], units: int = 100,
                    zoom: int = 4) -> dict[str, Image.Image]:
    """Single layer: templates.png and template-<k>.png; multi-layer: hidden-units.png."""
    tiles, labels = unit_tiles(network, image_shape, units, zoom)
    if len(network.weights) > 1:
        title = f"first-layer filters, {len(tiles)} of {network.weights[0].shape[0]} units"
        return {"hidden-units.png": grid(tiles, labels, columns=min(len(tiles), 20), title=title)}
    pictures = {"templates.png": grid(tiles, labels, columns=min(len(tiles), 10))}
    for k, picture in enumerate(tiles):
        pictures[f"template-{k}.png"] = grid([picture], [labels[k]], columns=1)
    return pictures


def epoch_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """A run's checkpoints/epoch-NNN.npz by epoch; at most MAX_EPOCHS_SHOWN of them, evenly
    spread from the first to the last."""
    found = []
    for path in run_dir.glob("checkpoints/epoch-*.npz"):
        match = EPOCH_FILE.fullmatch(path.name)
        if match:
            found.append((int(match[1]), path))
    found.sort()
    if len(found) <= MAX_EPOCHS_SHOWN:
        return found
    picks = np.linspace(0, len(found) - 1, MAX_EPOCHS_SHOWN).round().astype(int)
    return [found[k] for k in sorted(set(picks.tolist()))]


def evolution_pictures(run_dir: Path, network: Network, image_shape: tuple[int, ...],
                       units: int = 10, zoom: int = 3) -> dict[str, tuple[Image.Image, dict]]:
    """The change of the weights during training: a montage (a row per epoch) and an animated GIF,
    with their save options; none when the run has no epoch checkpoints."""
    epochs = epoch_checkpoints(run_dir)
    if not epochs:
        return {}
    check_size(2 * len(epochs) * min(units, network.sizes[1]), image_shape, zoom, run_dir)
    rows, frames = [], []
    for epoch, path in epochs:
        snapshot, meta = load_checkpoint(path)
        if snapshot.sizes != network.sizes or tuple(meta["image_shape"]) != image_shape:
            raise CheckpointError(f"{path}: layer sizes {snapshot.sizes} or image shape "
                                  f"{meta['image_shape']} differ from those of the run's best.npz")
        tiles, labels = unit_tiles(snapshot, image_shape, units, zoom)
        rows.append((epoch, tiles, labels))
        frames.append(grid(tiles, labels, columns=min(len(tiles), 10), title=f"epoch {epoch}"))
    montage_tiles = [t for _, tiles, _ in rows for t in tiles]
    montage_labels = [f"ep {epoch}" if k == 0 else labels[k]
                      for epoch, _, labels in rows for k in range(len(labels))]
    montage = grid(montage_tiles, montage_labels, columns=len(rows[0][1]))
    animation = {"save_all": True, "append_images": frames[1:], "duration": 600, "loop": 0}
    return {"weights-by-epoch.png": (montage, {}), "weights-by-epoch.gif": (frames[0], animation)}


def inspect_weights(target: str | Path, out_dir: str | Path, units: int = 100, zoom: int = 4,
                    force: bool = False) -> list[Path]:
    """Draw a checkpoint's weights; for a run directory also their change epoch by epoch.

    Everything is read and drawn, and every output file checked (see `check_output_file`: none
    may exist without `force`), before the first one is written.
    """
    out_dir = Path(out_dir)
    path = resolve_checkpoint(target)
    network, meta = load_checkpoint(path)
    image_shape = tuple(meta["image_shape"])
    check_size(min(units, network.sizes[1]), image_shape, zoom, path)
    pictures = {name: (picture, {})
                for name, picture in weight_pictures(network, image_shape, units, zoom).items()}
    if Path(target).is_dir():
        pictures.update(evolution_pictures(Path(target), network, image_shape))
    outs = [check_output_file(out_dir / name, force) for name in pictures]
    return [save_image(picture, out, **options)
            for out, (picture, options) in zip(outs, pictures.values())]

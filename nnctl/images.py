"""Weights as pictures: templates and hidden-unit filters as PNG grids, their change as a GIF.

Each weight vector is drawn in the input's image shape with a diverging colour map on a symmetric
scale of its own (-max|w| blue, 0 white, +max|w| red), upscaled with square pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nnctl.atomic import atomic_file, make_directory
from nnctl.checkpoint import load_checkpoint, resolve_checkpoint
from nnctl.network import Network

BLUE = np.array([33, 102, 172], dtype=np.float64)  # ColorBrewer RdBu ends
RED = np.array([178, 24, 43], dtype=np.float64)
WHITE = np.array([255, 255, 255], dtype=np.float64)
LABEL_HEIGHT = 14
PAD = 4


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


def grid(tiles: list[Image.Image], labels: list[str], columns: int, title: str | None = None) -> Image.Image:
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


def unit_tiles(network: Network, image_shape: tuple[int, ...], units: int, zoom: int) -> tuple[list, list]:
    """First-layer weight vectors as tiles: the templates of a single layer, else hidden filters."""
    W = network.weights[0]
    single = len(network.weights) == 1
    count = W.shape[0] if single else min(units, W.shape[0])
    labels = [f"digit {k}" if single else f"unit {k}" for k in range(count)]
    return [tile(W[k], image_shape, zoom) for k in range(count)], labels


def save_weights(network: Network, image_shape: tuple[int, ...], out_dir: Path, units: int = 100,
                 zoom: int = 4) -> list[Path]:
    """Single layer: templates.png and template-<k>.png; multi-layer: hidden-units.png."""
    make_directory(out_dir)
    tiles, labels = unit_tiles(network, image_shape, units, zoom)
    written = []
    if len(network.weights) == 1:
        written.append(out_dir / "templates.png")
        save_image(grid(tiles, labels, columns=min(len(tiles), 10)), written[-1])
        for k, picture in enumerate(tiles):
            written.append(out_dir / f"template-{k}.png")
            save_image(grid([picture], [labels[k]], columns=1), written[-1])
    else:
        written.append(out_dir / "hidden-units.png")
        save_image(grid(tiles, labels, columns=min(len(tiles), 20),
                        title=f"first-layer filters, {len(tiles)} of {network.weights[0].shape[0]} units"),
                   written[-1])
    return written


def save_evolution(snapshots: list[tuple[int, Network]], image_shape: tuple[int, ...], out_dir: Path,
                   units: int = 10, zoom: int = 3) -> list[Path]:
    """The change of the weights during training: a montage (a row per epoch) and an animated GIF."""
    make_directory(out_dir)
    rows, frames = [], []
    for epoch, network in snapshots:
        tiles, labels = unit_tiles(network, image_shape, units, zoom)
        rows.append((epoch, tiles, labels))
        frames.append(grid(tiles, labels, columns=min(len(tiles), 10), title=f"epoch {epoch}"))
    columns = len(rows[0][1])
    montage_tiles = [t for _, tiles, _ in rows for t in tiles]
    montage_labels = [f"ep {epoch}" if k == 0 else labels[k] for epoch, _, labels in rows for k in range(len(labels))]
    montage = out_dir / "weights-by-epoch.png"
    save_image(grid(montage_tiles, montage_labels, columns=columns), montage)
    animation = out_dir / "weights-by-epoch.gif"
    save_image(frames[0], animation, save_all=True, append_images=frames[1:], duration=600, loop=0)
    return [montage, animation]


def inspect_weights(target: str | Path, out_dir: str | Path, units: int = 100, zoom: int = 4) -> list[Path]:
    """Draw a checkpoint's weights; for a run directory also their change epoch by epoch."""
    out_dir = Path(out_dir)
    network, meta = load_checkpoint(resolve_checkpoint(target))
    image_shape = tuple(meta["image_shape"])
    written = save_weights(network, image_shape, out_dir, units, zoom)
    epochs = sorted(Path(target).glob("checkpoints/epoch-*.npz")) if Path(target).is_dir() else []
    if epochs:
        snapshots = []
        for path in epochs:
            snapshot, snapshot_meta = load_checkpoint(path)
            snapshots.append((snapshot_meta["epoch"], snapshot))
        written += save_evolution(snapshots, image_shape, out_dir)
    return written

"""The augment preview's picture: training digits, each beside random distortions of it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from nnctl.figures.weights import (
    GREY,
    SMALL_SIZE,
    TITLE_SIZE,
    stack,
    table,
    text_block,
    titled,
    with_margin,
)


def preview_figure(originals: np.ndarray, distorted: np.ndarray, names: list[str],
                   image_shape: tuple[int, ...], title: str, zoom: int = 3) -> Image.Image:
    """A row per image: its name, the image and its distortions (`distorted[k]` of
    `originals[k]`), as stored (ink light on dark), `zoom` times enlarged with square pixels."""
    height, width = image_shape

    def tile(pixels: np.ndarray) -> Image.Image:
        grey = np.rint(pixels.reshape(height, width) * 255.0).clip(0, 255).astype(np.uint8)
        picture = Image.fromarray(grey, "L").resize((width * zoom, height * zoom), Image.NEAREST)
        return picture.convert("RGB")

    header = [text_block(""), text_block("original", SMALL_SIZE, GREY),
              *(text_block(f"distorted {k + 1}", SMALL_SIZE, GREY)
                for k in range(distorted.shape[1]))]
    rows = [[text_block(name), tile(image), *map(tile, variants)]
            for name, image, variants in zip(names, originals, distorted)]
    note = ("Each row: a training digit, then random distortions of it (bilinear resampling, "
            "black outside the image).")
    return titled(with_margin(stack([text_block(title, TITLE_SIZE),
                                     text_block(note, SMALL_SIZE, GREY),
                                     table([header, *rows])])), title)

"""Distortions of the training images: the affine maps and the elastic ones of Simard, Steinkraus
and Platt (2003, §2), applied by one bilinear resampling per image.

Each distorted image is read from the original at source coordinates, for every pixel q = (x, y)
(x to the right, y downwards, the centre c of the image the origin of the affine part):

    source(q) = c + A^-1 (q + d(q) - c - t)

- A = R(angle) · Shear(shear) · S(sx, sy) turns the digit counter-clockwise by `angle` degrees,
  leans it by `shear` degrees (x' = x - tan(shear) y: its top to the right), and stretches it by
  sx horizontally and sy vertically; t = (tx, ty) moves it by whole or fractional pixels.
- d(q) is Simard's elastic displacement: a field of uniform(-1, 1) values per pixel, convolved
  with a Gaussian of sd `sigma` pixels and multiplied by `alpha`.
- Bilinear interpolation of the four pixels around the source, with zero outside the image. The
  weights of an integer coordinate are exactly 1 and 0: zero displacement gives the input exactly.

The affine map comes first and the elastic displacement last (the elastic field is that of the
output image). All random numbers for n images are drawn at once (`draw`), in a fixed order and
the same whatever is switched on, so the same generator state gives the same distortions.

The approximation: a fresh smoothed field per image costs far more than the resampling itself, so
the fields come from a bank (`field_bank`) built once per run from its seed: BANK_FIELDS fields
of twice the image's height and width (each the 'valid' part of a convolution of wider noise, so
the field is as strong at its borders as inside). An image takes one of them, a window of the
image's size at a random offset in it, and one of its 8 symmetries (flips and transposes, with
the displacement's components swapped and negated to match; 4 flips for a non-square image).
For 28x28 images that is 128 fields (3 MiB, small enough to stay in the processor's cache: a
bank of 512 made the compiled resampling half as slow again) x 8 x 29 x 29 offsets = 0.86 million
distinct fields; but overlapping windows of one field are correlated, as fresh fields are not.

`distort` is the readable numpy version; nnctl/engine/distort.py is its compiled twin, which
training uses (tests/test_augment.py checks they agree).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.errors import ConfigError

BANK_FIELDS = 128  # elastic fields in a bank (fewer for large images, see MAX_BANK_BYTES)
MAX_BANK_BYTES = 4 * 2**20  # 128 fields for 28x28 images: the bank stays in cache
BANK_STREAM = 0xE1A5  # mixed into the run's seed: the bank's numbers are not those of the shuffles
TRUNCATE = 4.0  # the Gaussian kernel reaches TRUNCATE sd on either side
# config key: (section, largest value allowed). sigma bounds the cost of the bank (its noise is
# 8 sigma wider than the field); a shear near 90 degrees or a scale near 1 is a degenerate map.
KEYS = {"sigma": ("elastic", 20.0), "alpha": ("elastic", 1000.0), "rotation": ("affine", 180.0),
        "scale": ("affine", 0.99), "shear": ("affine", 80.0), "translation": ("affine", 1000.0)}


@dataclass(frozen=True)
class Distortions:
    """How much to distort each training image; zero switches a distortion off."""

    sigma: float = 0.0
    alpha: float = 0.0
    rotation: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    translation: float = 0.0

    @property
    def elastic(self) -> bool:
        return self.alpha > 0

    def __bool__(self) -> bool:
        """Whether any distortion is switched on."""
        return any(getattr(self, f.name) > 0 for f in fields(self) if f.name != "sigma")

    def describe(self) -> str:
        """The distortions switched on, in words."""
        parts = [f"rotation ±{self.rotation:g}°" if self.rotation else "",
                 f"scale 1 ± {self.scale:g}" if self.scale else "",
                 f"shear ±{self.shear:g}°" if self.shear else "",
                 f"translation ±{self.translation:g} px" if self.translation else "",
                 f"elastic σ {self.sigma:g} α {self.alpha:g}" if self.elastic else ""]
        return ", ".join(part for part in parts if part) or "none"


def distortions_from_dict(raw: Any, where: str = "data.augment") -> Distortions:
    """{"elastic": {"sigma", "alpha"}, "affine": {"rotation", "scale", "shear", "translation"}}
    (every part optional; None: no distortion) -> Distortions; a ConfigError names a wrong key."""
    if raw is None:
        return Distortions()
    sections = sorted({section for section, _ in KEYS.values()})
    values = {}
    for section, part in _mapping(raw, where, sections).items():
        names = [name for name, (home, _) in KEYS.items() if home == section]
        for name, value in _mapping(part, f"{where}.{section}", names).items():
            limit = KEYS[name][1]
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not 0 <= value <= limit):
                raise ConfigError(f"{where}.{section}.{name}: must be a number from 0 to "
                                  f"{limit:g}, got {value!r}")
            values[name] = float(value)
    return Distortions(**values)


def _mapping(raw: Any, where: str, keys: list[str]) -> dict:
    """`raw` as a mapping of some of `keys` (None: empty)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping of {', '.join(keys)}, got {raw!r}")
    for key in raw:
        if key not in keys:
            raise ConfigError(f"{where}.{key}: unknown key; choose from {', '.join(keys)}")
    return raw


# --------------------------------------------------------------------------- random parameters


def draw(distortions: Distortions, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The random parameters of n distortions: angle and shear (degrees), sx and sy (factors),
    tx and ty (pixels), and `field`, a random integer choosing the elastic field (`field_choice`).
    Always 6 uniform numbers and one integer per image, in this order, whatever is switched on."""
    d = distortions
    u = rng.uniform(-1.0, 1.0, size=(6, n))
    return {"angle": d.rotation * u[0], "sx": 1.0 + d.scale * u[1], "sy": 1.0 + d.scale * u[2],
            "shear": d.shear * u[3], "tx": d.translation * u[4], "ty": d.translation * u[5],
            "field": rng.integers(0, 2**62, size=n)}


def resampling_maps(params: dict[str, np.ndarray], image_shape: tuple[int, ...]) -> np.ndarray:
    """(n, 2, 3) matrices [M | m] with source(q) = M (q + d(q)) + m, where M = A^-1 and
    m = c - M (c + t) (see the module's docstring). Identity parameters give exactly [I | 0]."""
    angle, shear = np.radians(params["angle"]), np.radians(params["shear"])
    cos, sin, tan = np.cos(angle), np.sin(angle), np.tan(shear)
    # A^-1 = S^-1 Shear^-1 R^-1 with R^-1 = [[cos, -sin], [sin, cos]], Shear^-1 = [[1, tan], [0, 1]]
    M = np.empty((len(angle), 2, 2))
    M[:, 0, 0] = (cos + tan * sin) / params["sx"]
    M[:, 0, 1] = (tan * cos - sin) / params["sx"]
    M[:, 1, 0] = sin / params["sy"]
    M[:, 1, 1] = cos / params["sy"]
    height, width = image_shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    shifted = centre + np.stack([params["tx"], params["ty"]], axis=1)
    m = centre - np.einsum("nij,nj->ni", M, shifted)
    return np.concatenate([M, m[:, :, None]], axis=2)


# --------------------------------------------------------------------------- elastic fields


def field_bank(distortions: Distortions, image_shape: tuple[int, ...], seed: int) -> np.ndarray:
    """(fields, 2H, 2W, 2) float32: the displacements (x, y) of Simard's elastic fields, each
    uniform(-1, 1) noise convolved with a Gaussian of sd sigma and scaled by alpha; the same for
    the same seed. Empty (no fields) when elastic distortion is off."""
    height, width = image_shape
    rows, cols = 2 * height, 2 * width
    count = min(BANK_FIELDS, max(1, MAX_BANK_BYTES // (rows * cols * 2 * 4)))
    if not distortions.elastic:
        return np.zeros((0, rows, cols, 2), dtype=np.float32)
    rng = np.random.default_rng([BANK_STREAM, seed])
    smooth_rows, smooth_cols = (gaussian_matrix(size, distortions.sigma) for size in (rows, cols))
    bank = np.empty((count, rows, cols, 2), dtype=np.float32)  # x and y side by side: one read
    for k in range(count):
        noise = rng.uniform(-1.0, 1.0, size=(2, smooth_rows.shape[1], smooth_cols.shape[1]))
        bank[k] = np.moveaxis(distortions.alpha * (smooth_rows @ noise @ smooth_cols.T), 0, -1)
    return bank


def gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """(size, size + 2r): the 'valid' convolution of a signal with the normalised Gaussian of sd
    sigma truncated at r = ceil(TRUNCATE sigma) pixels (sigma 0: the identity)."""
    radius = math.ceil(TRUNCATE * sigma)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2) if sigma > 0 else np.ones(1)
    kernel /= kernel.sum()
    matrix = np.zeros((size, size + 2 * radius))
    for k, weight in enumerate(kernel):
        matrix[np.arange(size), np.arange(size) + k] = weight
    return matrix


def field_choice(field: np.ndarray, bank: np.ndarray,
                 image_shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The random integers `field` of `draw` -> (index into the bank, symmetry code 0..7, row
    and column offset of the image's window): bit 0 of the code flips x, bit 1 flips y, bit 2
    transposes (square images only)."""
    height, width = image_shape
    count = max(1, len(bank))
    symmetries = 8 if height == width else 4
    field = np.asarray(field, dtype=np.int64)
    index, rest = field % count, field // count
    symmetry, rest = rest % symmetries, rest // symmetries
    row_offsets, col_offsets = bank.shape[1] - height + 1, bank.shape[2] - width + 1
    return index, symmetry, rest % row_offsets, rest // row_offsets % col_offsets


def elastic_field(bank: np.ndarray, index: int, symmetry: int, row: int, col: int,
                  image_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The displacements (dx, dy) of one image: the bank's field `index` transposed, flipped in x,
    flipped in y as the bits 2, 0, 1 of `symmetry` say (its components swapped and negated to
    match), then its window at (row, col)."""
    dx, dy = np.moveaxis(bank[index], -1, 0)
    if symmetry & 4:
        dx, dy = dy.T, dx.T
    if symmetry & 1:
        dx, dy = -dx[:, ::-1], dy[:, ::-1]
    if symmetry & 2:
        dx, dy = dx[::-1], -dy[::-1]
    height, width = image_shape
    return dx[row : row + height, col : col + width], dy[row : row + height, col : col + width]


# --------------------------------------------------------------------------- resampling


def distort(images: np.ndarray, params: dict[str, np.ndarray], bank: np.ndarray,
            image_shape: tuple[int, ...]) -> np.ndarray:
    """Images (n, H*W) in [0, 1] distorted by `params` (from `draw`) and the elastic fields of
    `bank` (from `field_bank`; empty: no elastic part); the same shape and dtype."""
    height, width = image_shape
    maps = resampling_maps(params, image_shape)
    choice = field_choice(params["field"], bank, image_shape)
    rows, cols = np.indices((height, width), dtype=np.float64)
    out = np.empty_like(images)
    for e, image in enumerate(images):
        dx, dy = 0.0, 0.0
        if len(bank):
            dx, dy = elastic_field(bank, *(int(c[e]) for c in choice), image_shape)
        (a, b, m0), (c, d, m1) = maps[e]
        x = a * (cols + dx) + b * (rows + dy) + m0
        y = c * (cols + dx) + d * (rows + dy) + m1
        out[e] = bilinear(image.reshape(height, width), x, y).ravel()
    return out


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`image` (H, W) read at the coordinates (x, y) by bilinear interpolation, 0 outside."""
    height, width = image.shape
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    j, i = x0.astype(np.int64), y0.astype(np.int64)

    def pixel(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        inside = (i >= 0) & (i < height) & (j >= 0) & (j < width)
        return np.where(inside, image[i.clip(0, height - 1), j.clip(0, width - 1)], 0.0)

    return ((1 - fy) * ((1 - fx) * pixel(i, j) + fx * pixel(i, j + 1))
            + fy * ((1 - fx) * pixel(i + 1, j) + fx * pixel(i + 1, j + 1)))


# --------------------------------------------------------------------------- preview


def config_distortions(config: Any) -> Distortions:
    """The distortions a validated Config's `data.augment` switches on (checked again here for
    the bounds the resampling needs)."""
    return distortions_from_dict(asdict(config.data.augment))


BLOCK = 512  # positions of an epoch whose distortions are drawn from one generator


class ChunkDistorter:
    """The distorted training inputs of a chunk of an epoch, drawn from a generator of the run's
    (seed, epoch, block of BLOCK positions): the same for both engines (whose chunks hold whole
    blocks) and after a resume anywhere, whatever happened before."""

    def __init__(self, distortions: Distortions, source: np.ndarray,
                 image_shape: tuple[int, ...], seed: int):
        from nnctl.engine.distort import distort as compiled  # numba, as the fused engine

        self.distortions, self.source, self.shape, self.seed = (
            distortions, source, tuple(image_shape), seed)
        self.bank = field_bank(distortions, self.shape, seed)
        self.distort = compiled

    def inputs(self, epoch: int, start: int, indices: np.ndarray) -> np.ndarray:
        """Rows of distorted x[indices], the examples at positions start, start + 1, ... of
        `epoch` (start a multiple of BLOCK)."""
        out = np.empty((len(indices), self.source.shape[1]), self.source.dtype)
        for offset in range(0, len(indices), BLOCK):
            rows = indices[offset : offset + BLOCK]
            rng = np.random.default_rng([self.seed, epoch, (start + offset) // BLOCK])
            params = draw(self.distortions, len(rows), rng)
            self.distort(np.ascontiguousarray(self.source[rows]), params, self.bank, self.shape,
                         out=out[offset : offset + len(rows)])
        return out


def preview(config_path: str | Path, out: str | Path, examples: int = 8, variants: int = 6,
            force: bool = False) -> Path:
    """A PNG of `examples` training digits (one of each class in turn, picked at random with the
    config's seed), each followed by `variants` random distortions of it as the config's
    `data.augment` says. `out` is checked (see `check_output_file`) before anything is read."""
    from nnctl.errors import DataError, RunDirError
    from nnctl.figures.weights import save_image
    from nnctl.io.examples import load_training_data
    from nnctl.io.outputs import check_output_file

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise RunDirError(f"{out}: not a .png file name")
    out = check_output_file(out, force, inputs=[Path(config_path)])
    from nnctl.io.config import load_config

    config = load_config(config_path)
    distortions = config_distortions(config)
    if not distortions:
        raise ConfigError(f"{config_path}: data.augment switches no distortion on "
                          "(elastic: sigma, alpha; affine: rotation, scale, shear, translation)")
    train = load_training_data(config.data, "float32").train
    shape = train.image_shape
    if len(shape) != 2:
        raise DataError(f"{config_path}: images of shape {shape} cannot be distorted (2-D only)")
    seed = config.training.seed
    rng = np.random.default_rng(seed)
    picks = pick_digits(train.labels, examples, rng)
    params = draw(distortions, examples * variants, rng)
    distorted = distort(np.repeat(train.x[picks], variants, axis=0), params,
                        field_bank(distortions, shape, seed), shape)
    title = f"{Path(config_path).name}: {distortions.describe()} (seed {seed})"
    picture = preview_figure(train.x[picks], distorted.reshape(examples, variants, -1),
                             [f"digit {train.labels[k]}\nexample {k}" for k in picks], shape,
                             title)
    return save_image(picture, out)


def pick_digits(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `count` random examples: one of the first class, one of the second, ..."""
    classes = np.unique(labels)
    return np.array([rng.choice(np.flatnonzero(labels == classes[k % len(classes)]))
                     for k in range(count)])


def preview_figure(originals: np.ndarray, distorted: np.ndarray, names: list[str],
                   image_shape: tuple[int, ...], title: str, zoom: int = 3):
    """A row per image: its name, the image and its distortions (`distorted[k]` of
    `originals[k]`), as stored (ink light on dark), `zoom` times enlarged with square pixels."""
    from PIL import Image

    from nnctl.figures.weights import (
        GREY,
        SMALL_SIZE,
        TITLE_SIZE,
        stack,
        table,
        text_block,
        with_margin,
    )

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
    return with_margin(stack([text_block(title, TITLE_SIZE), text_block(note, SMALL_SIZE, GREY),
                              table([header, *rows])]))

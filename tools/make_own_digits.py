"""Make data/own-digits-kinds/: digits that are not MNIST's, of the kinds people bring, from a
seed (deterministic), with nothing but what is installed (numpy, Pillow, the DejaVu TrueType
fonts of the machine: /usr/share/fonts/truetype/dejavu, or matplotlib's copy of them).

Each file is `<digit>-<kind>-<nn>.png` (or `.jpg`); labels.csv lists file, digit and kind. The
kinds (KINDS) are:

- font: typeset in DejaVu Sans, Serif, Mono, Condensed, Bold, Oblique..., black on white;
- thin: typeset in DejaVu Sans ExtraLight, large (strokes of 1-2% of the image);
- thick: typeset in bold faces with an outline of 3-5% of the image (very heavy strokes);
- hand: handwritten-like, drawn stroke by stroke (a skeleton per digit, each point jittered,
  the whole slanted, rotated, stretched), pen widths of 3-12% of the image;
- photo: a hand or typeset digit on paper photographed: grey paper, a shadow gradient across the
  image (the light falling to 25-60% at one side), a little blur, noise, saved as JPEG;
- low-contrast: grey pencil on grey paper, 25-45 grey levels apart, a little noise;
- blur: a Gaussian blur of 2-5% of the image;
- dark: light chalk or a dark-mode screenshot: a light digit on a dark field with a gradient;
- alpha-white: a white digit on a transparent PNG (what dark-mode drawing apps export);
- alpha-black: a black digit on a transparent PNG.

    python tools/make_own_digits.py            # rewrites data/own-digits-kinds/
    python tools/make_own_digits.py --out DIR  # elsewhere
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "own-digits-kinds"
SEED = 2024
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu")]
REGULAR = ["DejaVuSans", "DejaVuSerif", "DejaVuSansMono", "DejaVuSansCondensed",
           "DejaVuSerifCondensed", "DejaVuSans-Oblique", "DejaVuSerif-Italic",
           "DejaVuSans-Bold", "DejaVuSerif-Bold", "DejaVuSansMono-Oblique"]
BOLD = ["DejaVuSans-Bold", "DejaVuSerif-Bold", "DejaVuSansMono-Bold", "DejaVuSans-BoldOblique"]
THIN = ["DejaVuSans-ExtraLight"]
# how many images of each digit per kind
KINDS = {"font": 3, "thin": 2, "thick": 2, "hand": 4, "photo": 4, "low-contrast": 2, "blur": 2,
         "dark": 2, "alpha-white": 2, "alpha-black": 2}
SIZE = 64  # the side of most images; thin digits are larger

# --------------------------------------------------------------------------- typeset


def font_file(name: str) -> Path:
    """The TrueType file of a DejaVu face: the system's, else matplotlib's copy."""
    dirs = list(FONT_DIRS)
    try:
        import matplotlib
        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    for directory in dirs:
        if (directory / f"{name}.ttf").is_file():
            return directory / f"{name}.ttf"
    raise SystemExit(f"font {name}.ttf not found in {', '.join(map(str, dirs))}")


def typeset(digit: int, face: str, rng: np.random.Generator, size: int = SIZE,
            outline: float = 0.0) -> np.ndarray:
    """Ink (float 0..1, 1 = ink) of a typeset digit, 55-80% of the image's height, off-centre a
    little; `outline` (a fraction of the image) thickens the strokes."""
    font = ImageFont.truetype(str(font_file(face)), int(size * rng.uniform(0.55, 0.8)))
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    stroke = round(outline * size)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font, stroke_width=stroke)
    dx, dy = rng.uniform(-0.08, 0.08, 2) * size
    draw.text(((size - (right - left)) / 2 - left + dx, (size - (bottom - top)) / 2 - top + dy),
              str(digit), font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    return np.asarray(image, np.float64) / 255.0


# --------------------------------------------------------------------------- handwritten


def _arc(cx, cy, rx, ry, t0, t1, n=24):
    t = np.linspace(t0 * np.pi, t1 * np.pi, n)
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# strokes of each digit in a unit square (x right, y down); angles in units of pi, y down
SKELETONS = {
    0: [_arc(0.5, 0.5, 0.28, 0.4, 1.5, 3.55)],
    1: [[(0.36, 0.24), (0.52, 0.1), (0.52, 0.9)]],
    2: [_arc(0.5, 0.33, 0.24, 0.22, 1.1, 2.2) + [(0.22, 0.9), (0.8, 0.9)]],
    3: [_arc(0.5, 0.3, 0.22, 0.2, 1.15, 2.5) + _arc(0.5, 0.7, 0.25, 0.2, 1.5, 2.85)],
    4: [[(0.62, 0.1), (0.2, 0.64), (0.82, 0.64)], [(0.64, 0.35), (0.64, 0.92)]],
    5: [[(0.76, 0.1), (0.34, 0.1), (0.29, 0.46)] + _arc(0.5, 0.66, 0.26, 0.24, 1.25, 2.8)],
    6: [_arc(0.74, 0.62, 0.48, 0.52, 1.45, 1.0) + _arc(0.5, 0.66, 0.24, 0.24, 1.0, 3.0)],
    7: [[(0.22, 0.12), (0.78, 0.12), (0.42, 0.92)]],
    8: [_arc(0.5, 0.3, 0.2, 0.19, 0.5, 2.5) + _arc(0.5, 0.7, 0.24, 0.21, 1.5, 3.5)],
    9: [_arc(0.5, 0.34, 0.23, 0.22, 0.0, 2.0) + [(0.73, 0.4), (0.62, 0.92)]],
}


def handwritten(digit: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Ink (float 0..1) of a digit drawn with a pen: its skeleton's points jittered, the whole
    slanted, rotated and stretched at random, drawn 4 times larger then reduced (anti-aliased)."""
    big = size * 4
    slant, angle = rng.uniform(-0.35, 0.25), rng.uniform(-0.15, 0.15)
    sx, sy = rng.uniform(0.75, 1.1), rng.uniform(0.8, 1.05)
    c, s = np.cos(angle), np.sin(angle)
    width = round(big * rng.uniform(0.03, 0.12))
    image = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(image)
    shift = rng.uniform(-0.06, 0.06, 2)
    for stroke in SKELETONS[digit]:
        p = np.asarray(stroke) - 0.5
        p = p + rng.normal(0.0, 0.012, p.shape).cumsum(axis=0) * 0.5  # a wandering hand
        x, y = p[:, 0] * sx - slant * p[:, 1] * sy, p[:, 1] * sy
        x, y = c * x - s * y, s * x + c * y
        points = [(float(a), float(b)) for a, b in
                  zip((x * 0.8 + 0.5 + shift[0]) * big, (y * 0.8 + 0.5 + shift[1]) * big)]
        draw.line(points, fill=255, width=width, joint="curve")
        r = width / 2
        for a, b in (points[0], points[-1]):  # round pen ends
            draw.ellipse((a - r, b - r, a + r, b + r), fill=255)
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), np.float64) / 255.0


# --------------------------------------------------------------------------- the kinds


def any_digit(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A handwritten or a typeset digit, at random."""
    if rng.random() < 0.5:
        return handwritten(digit, rng)
    return typeset(digit, REGULAR[rng.integers(len(REGULAR))], rng)


def shadow(shape: tuple[int, int], rng: np.random.Generator, low: float) -> np.ndarray:
    """Light falling from 1 to `low` across the image in a random direction, smoothly."""
    h, w = shape
    theta = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:h, 0:w]
    t = ((x / w - 0.5) * np.cos(theta) + (y / h - 0.5) * np.sin(theta)) / 0.71 * 0.5 + 0.5
    t = np.clip(t + rng.uniform(-0.1, 0.1), 0, 1) ** rng.uniform(0.7, 1.6)
    return 1.0 - (1.0 - low) * t


def blurred(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of standard deviation `sigma` pixels (edges extended)."""
    r = max(1, int(np.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(pixels, r, mode="edge")
    rows = np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid")


def jpeg(grey: np.ndarray, quality: int) -> bytes:
    image = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def on_paper(ink: np.ndarray, paper: float, pen: float) -> np.ndarray:
    return paper + (pen - paper) * ink


def make(kind: str, digit: int, rng: np.random.Generator) -> tuple[bytes, str]:
    """One image of `digit` of `kind`: its file's bytes and suffix."""
    if kind == "font":
        ink = typeset(digit, REGULAR[rng.integers(len(REGULAR))], rng)
        return png(Image.fromarray(np.rint(255 * (1 - ink)).astype(np.uint8))), ".png"
    if kind == "thin":
        ink = typeset(digit, THIN[0], rng, size=160)
        return png(Image.fromarray(np.rint(255 * (1 - ink)).astype(np.uint8))), ".png"
    if kind == "thick":
        ink = typeset(digit, BOLD[rng.integers(len(BOLD))], rng, outline=rng.uniform(0.03, 0.05))
        return png(Image.fromarray(np.rint(255 * (1 - ink)).astype(np.uint8))), ".png"
    if kind == "hand":
        ink = handwritten(digit, rng)
        return png(Image.fromarray(np.rint(255 * (1 - ink)).astype(np.uint8))), ".png"
    if kind == "photo":
        ink = blurred(any_digit(digit, rng), rng.uniform(0.3, 1.2))
        paper, pen = rng.uniform(170, 235), rng.uniform(20, 70)
        grey = on_paper(ink, paper, pen) * shadow(ink.shape, rng, rng.uniform(0.25, 0.6))
        grey = grey + rng.normal(0, rng.uniform(2, 6), grey.shape)
        return jpeg(grey, int(rng.integers(40, 80))), ".jpg"
    if kind == "low-contrast":
        ink = any_digit(digit, rng)
        paper = rng.uniform(110, 200)
        grey = on_paper(ink, paper, paper - rng.uniform(25, 45))
        grey = grey + rng.normal(0, 2.0, grey.shape)
        return png(Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))), ".png"
    if kind == "blur":
        ink = any_digit(digit, rng)
        grey = blurred(255 * (1 - ink), rng.uniform(0.02, 0.05) * SIZE)
        return png(Image.fromarray(np.rint(grey).astype(np.uint8))), ".png"
    if kind == "dark":
        ink = any_digit(digit, rng)
        grey = on_paper(ink, rng.uniform(15, 60), rng.uniform(180, 250))
        grey = grey * shadow(ink.shape, rng, rng.uniform(0.5, 0.8))
        grey = grey + rng.normal(0, 3.0, grey.shape)
        return png(Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8))), ".png"
    if kind in ("alpha-white", "alpha-black"):
        ink = any_digit(digit, rng)
        colour = 255 if kind == "alpha-white" else 0
        rgba = np.zeros(ink.shape + (4,), np.uint8)
        rgba[..., :3] = colour
        rgba[..., 3] = np.rint(255 * ink).astype(np.uint8)
        return png(Image.fromarray(rgba, "RGBA")), ".png"
    raise ValueError(kind)


def generate(out: Path, seed: int = SEED, kinds: dict[str, int] = KINDS) -> list[dict]:
    """Write every image to `out` and labels.csv beside them; the rows of labels.csv."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (kind, per_digit) in enumerate(kinds.items()):
        rng = np.random.default_rng([seed, k])  # one stream per kind: kinds are independent
        for digit in range(10):
            for n in range(per_digit):
                data, suffix = make(kind, digit, rng)
                name = f"{digit}-{kind}-{n:02d}{suffix}"
                (out / name).write_bytes(data)
                rows.append({"file": name, "digit": digit, "kind": kind})
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "digit", "kind"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    rows = generate(args.out, args.seed)
    print(f"wrote {len(rows)} images and labels.csv to {args.out}")


if __name__ == "__main__":
    main()

"""Render data/own-digits/: the digits 0-9 typeset in the fonts matplotlib ships (DejaVu, STIX,
Computer Modern), dark ink on white, as a user's scan would be. They are not MNIST's writers,
pens or scanners: `tools/own_digits.py` measures how well trained networks read them.

    python tools/render_digits.py    # rewrites data/own-digits/ (deterministic)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "own-digits"
FONTS = ["DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
         "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSerif", "DejaVuSerif-Bold",
         "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic", "STIXGeneral", "STIXGeneralBol",
         "STIXGeneralItalic", "STIXGeneralBolIta", "cmr10", "cmss10", "cmb10", "cmtt10"]


def render(digit: int, font_name: str, size: int = 64) -> Image.Image:
    """One digit, black on white, about 70% of the image's height."""
    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    font = ImageFont.truetype(str(font_dir / f"{font_name}.ttf"), int(size * 0.7))
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
    draw.text(((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top),
              str(digit), font=font, fill=0)
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for font_name in FONTS:
        for digit in range(10):
            render(digit, font_name).save(OUT / f"{digit}-{font_name}.png", optimize=True)
    print(f"wrote {len(FONTS) * 10} images to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

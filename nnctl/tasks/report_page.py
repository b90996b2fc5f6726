"""The report's page: its pictures as data: URIs, and the Jinja2 template that renders it, with
every value escaped (templates/report.html.j2)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime, timezone

import jinja2

from nnctl.figures.saving import figure_bytes
from nnctl.version import __version__


@dataclass
class Figure:
    """A picture on the page: PNG bytes, its alternative text and caption."""

    png: bytes
    alt: str
    caption: str

    @property
    def uri(self) -> str:
        return data_uri(self.png)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_png(figure) -> bytes:
    """A matplotlib Figure as PNG bytes (closed; drawn quietly, as every figure is saved)."""
    from nnctl.figures.curves import pyplot

    try:
        return figure_bytes(figure, "PNG", dpi=110)
    finally:
        pyplot().close(figure)


def picture_png(picture) -> bytes:
    """A Pillow picture as PNG bytes."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def render(context: dict) -> str:
    """The page: every value escaped, an undefined name an error."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("nnctl.tasks", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    about = {"version": __version__,
             "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    return environment.get_template("report.html.j2").render(about=about, **context)

"""The tour's page: sections of claims with their evidence, rendered by a Jinja2 template into one
self-contained HTML file (figures as data: URIs, no script, no link outside the page)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import jinja2


@dataclass
class Claim:
    """One claim of the lecture as tested: what should hold, the measured evidence, and whether
    the measurement shows it."""

    text: str
    evidence: str
    holds: bool

    def line(self, number: str) -> str:
        """The claim's line on the terminal."""
        verdict = "holds" if self.holds else "DOES NOT HOLD"
        return f"{number} [{verdict}] {self.text}: {self.evidence}"


@dataclass
class Figure:
    png: bytes
    alt: str
    caption: str
    file: str  # where it is saved, relative to the tour's directory

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Quote:
    """Words of the lecture: a slide's title and sentences from it, verbatim (formulas written out
    in plain text where the slide typesets them)."""

    slide: str
    sentences: list[str]


@dataclass
class Section:
    key: str  # the anchor: #key
    title: str
    quotes: list[Quote]
    run: list[str]  # the commands (or library calls) that compute the section, to rerun it
    claims: list[Claim]
    figures: list[Figure] = field(default_factory=list)
    table: list[list[str]] = field(default_factory=list)  # a header row, then rows
    notes: list[str] = field(default_factory=list)


def environment() -> jinja2.Environment:
    """The template's environment: every value escaped, undefined names an error."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("nnctl.tour", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(sections: list[Section], about: dict) -> str:
    """The whole page; `about` says how it was made (version, mode, seconds, command)."""
    return environment().get_template("tour.html.j2").render(sections=sections, about=about)

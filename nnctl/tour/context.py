"""What every section of the tour is given: where it writes, how much to run, and how a figure
becomes a file of the tour and a picture on its page."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nnctl.io.outputs import check_output_file
from nnctl.tour.page import Figure


@dataclass
class Tour:
    out: Path
    quick: bool
    progress: Callable[[str], None] = lambda message: None  # what is being done, for stderr

    @property
    def seeds(self) -> list[int]:
        """Seeds of the MNIST runs: accuracies are a mean and sd over three, one with --quick."""
        return [0] if self.quick else [0, 1, 2]

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    def shown(self, path: str | Path) -> str:
        """A path as a command line to paste from the current directory writes it."""
        path = Path(path)
        relative = os.path.relpath(path) if path.is_absolute() else str(path)
        return shlex.quote(str(path) if relative.startswith("..") else relative)

    def figure(self, name: str, drawn, alt: str, caption: str) -> Figure:
        """Save a matplotlib Figure `drawn` as figures/`name` (replacing the tour's own file)
        and take it onto the page."""
        from nnctl.figures.curves import pyplot, save_figure

        path = check_output_file(self.path("figures", name), force=True)
        save_figure(drawn, pyplot(), path)
        return self.picture(path, alt, caption)

    def picture(self, path: Path, alt: str, caption: str) -> Figure:
        """A PNG the tour wrote, taken onto the page."""
        return Figure(path.read_bytes(), alt, caption, str(path.relative_to(self.out)))

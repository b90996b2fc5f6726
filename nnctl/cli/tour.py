"""`nnctl tour`: the lecture's claims, each shown by a run you can repeat."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command()
@click.option("--out", default="tour", show_default=True, metavar="DIR",
              help="Directory for index.html, the runs and the figures (new, empty, or a "
                   "tour's).")
@click.option("--quick", is_flag=True,
              help="MNIST runs on 5,000 examples, 3 epochs, 1 seed (under 20 s).")
@click.option("--force", is_flag=True,
              help="Write again over a finished tour in DIR (only the tour's own files).")
def tour(out: str, quick: bool, force: bool) -> None:
    """The lecture's claims, each shown by a run you can repeat: one line per claim with its
    measured evidence, and DIR/index.html, one self-contained page (figures embedded, no
    network, no script) giving for each claim the lecture's words, the command, the figure and
    the number. Exits 1 if a claim did not hold as measured (the page says which).

    \b
    Example:
      nnctl tour --out tour/
      chromium --headless --screenshot=tour.png --window-size=1280,16000 tour/index.html
    """
    from nnctl.tour import run_tour

    page = run_tour(Path(out), quick, force,
                    progress=lambda message: click.echo(shown(f"tour: {message}"), err=True))
    click.echo(shown(f"wrote {page}"))

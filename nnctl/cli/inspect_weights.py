"""`nnctl inspect-weights`: the weights drawn as images."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command("inspect-weights")
@click.argument("target", metavar="CHECKPOINT_RUN_OR_FOLDER", type=click.Path())
@click.option("--out", default="figures", show_default=True,
              help="Directory for the figures (and the GIF); a folder of runs gets a "
                   "directory per run in it.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png",
              show_default=True,
              help="Format of the figures (the change epoch by epoch is also a GIF).")
@click.option("--units", type=click.IntRange(min=1), default=100, show_default=True,
              help="Units (templates, hidden units) to draw at most.")
@click.option("--zoom", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Pixels per weight.")
@click.option("--force", is_flag=True, help="Replace files of these names already in --out.")
def inspect_weights(target: str, out: str, fmt: str, units: int, zoom: int,
                    force: bool) -> None:
    """Draw the weights as images: the 10 templates of a single layer, or first-layer filters.

    Given a run directory, also the change of the weights epoch by epoch (montage and GIF).
    Given a folder of runs (as `nnctl runs` finds them), each run's into --out/<run>.

    \b
    Example:
      nnctl inspect-weights runs/single-layer-delta --out figures/
      nnctl inspect-weights runs/ --out figures/ --format svg
    """
    from nnctl.figures.weights import inspect_weights as draw
    from nnctl.io.path_kinds import CHECKPOINT, RUN, expect

    expect(target, (RUN, CHECKPOINT), "inspect-weights")

    for path in draw(target, Path(out), units=units, zoom=zoom, force=force, fmt=fmt):
        click.echo(shown(path))

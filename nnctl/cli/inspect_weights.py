"""`nnctl inspect-weights`: the weights drawn as images."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command("inspect-weights")
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.option("--out", default="figures", show_default=True,
              help="Directory for the PNG and GIF files.")
@click.option("--units", type=click.IntRange(min=1), default=100, show_default=True,
              help="Units (templates, hidden units) to draw at most.")
@click.option("--zoom", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Pixels per weight.")
@click.option("--force", is_flag=True, help="Replace files of these names already in --out.")
def inspect_weights(target: str, out: str, units: int, zoom: int, force: bool) -> None:
    """Draw the weights as images: the 10 templates of a single layer, or first-layer filters.

    Given a run directory, also the change of the weights epoch by epoch (montage PNG and GIF).

    \b
    Example:
      nnctl inspect-weights runs/single-layer-delta --out figures/
    """
    from nnctl.figures.weights import inspect_weights as draw
    from nnctl.io.path_kinds import CHECKPOINT, RUN, expect

    expect(target, (RUN, CHECKPOINT), "inspect-weights")

    for path in draw(target, Path(out), units=units, zoom=zoom, force=force):
        click.echo(shown(path))

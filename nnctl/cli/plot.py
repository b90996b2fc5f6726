"""`nnctl plot`: learning curves of runs."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command()
@click.argument("runs", metavar="RUN_OR_FOLDER...", nargs=-1, required=True)
@click.option("--out", default="figures/curves.png", show_default=True,
              help="The figure to write, in the format its name says: .png, .svg, .pdf "
                   "(or .jpg, .gif, .bmp, .tif, .webp).")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
def plot(runs: tuple[str, ...], out: str, force: bool) -> None:
    """Learning curves: train and validation accuracy and loss per epoch of one or more runs.

    A folder that is not a run stands for the runs below it (as `nnctl runs` finds them). One
    loss panel per kind of loss; the legend names each run by its directory name, followed by
    the config keys whose values differ between the runs when they are short.

    \b
    Example:
      nnctl plot runs/mlp-300 runs/mlp-300-100 --out figures/curves.svg
      nnctl plot runs/ --out figures/all-runs.png
    """
    from nnctl.figures.curves import learning_curves
    from nnctl.io.path_kinds import RUN, SWEEP_DIR, TOUR_DIR, expect

    for given in runs:  # a sweep's or a tour's folder stands for its runs
        expect(given, (RUN, SWEEP_DIR, TOUR_DIR), "plot")
    click.echo(shown(learning_curves([Path(r) for r in runs], Path(out), force)))

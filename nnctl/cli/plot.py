"""`nnctl plot`: learning curves of runs."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True)
@click.option("--out", required=True, help="The PNG to write.")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
def plot(runs: tuple[str, ...], out: str, force: bool) -> None:
    """Learning curves: train and validation accuracy and loss per epoch of one or more runs.

    One loss panel per kind of loss; the legend names each run by the config keys that differ.

    \b
    Example:
      nnctl plot runs/mlp-300 runs/mlp-300-100 --out figures/curves.png
    """
    from nnctl.figures.curves import learning_curves
    from nnctl.io.path_kinds import RUN, expect
    from nnctl.io.run_info import run_labels

    for given in runs:
        expect(given, (RUN,), "plot")
    paths = [Path(r) for r in runs]
    click.echo(shown(learning_curves(paths, Path(out), force, labels=run_labels(paths))))

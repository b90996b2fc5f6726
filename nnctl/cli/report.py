"""`nnctl report`: one self-contained HTML page about a run or a sweep."""

from __future__ import annotations

import click

from nnctl.terminal import shown


@click.command()
@click.argument("target", metavar="RUN|SWEEP_DIR", type=click.Path())
@click.option("--out", help="The HTML file to write (default: RUN-report.html beside RUN).")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
def report(target: str, out: str | None, force: bool) -> None:
    """One HTML page of what a run or a sweep did, for a browser, with nothing loaded from
    elsewhere.

    A run: its status (a run still training shows the epochs done so far), its config and what
    differs from the defaults, its summary, learning curves, templates or hidden units and their
    change over the epochs, the test confusion matrix and every misclassified test digit, to
    browse by true and predicted digit. A sweep: its points ranked and its figures.

    \b
    Example:
      nnctl report runs/mlp-300
      nnctl report runs/lr --out lr-sweep.html
    """
    from nnctl.tasks.report import write_report

    click.echo(shown(write_report(target, out, force)))

"""`nnctl runs`: list and compare runs."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command("runs")
@click.argument("paths", metavar="[DIR...]", nargs=-1)
@click.option("--sort", type=click.Choice(["name", "status", "epochs", "val_accuracy",
                                           "test_accuracy", "seconds"]),
              default="name", show_default=True, help="Order of the rows (figures: best first).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run on stdout.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on stdout.")
def runs_command(paths: tuple[str, ...], sort: str, as_json: bool, as_csv: bool) -> None:
    """List runs and compare them: status, network, the config keys that differ, results.

    DIR is a run directory or a directory holding runs (default: runs/). Status: running (a
    process holds the run), finished, stopped (by a stop condition), diverged, interrupted,
    killed (ended without a word: SIGKILL, a crash; resumable), new (no checkpoint yet),
    damaged (a file of the run is not what nnctl wrote: the problem column says which).

    \b
    Example:
      nnctl runs
      nnctl runs runs/sweep --sort val_accuracy --csv > results.csv
    """
    from rich.console import Console

    from nnctl.cli.text import print_tables, runs_table
    from nnctl.io.path_kinds import RUN, SWEEP_DIR, TOUR_DIR, expect
    from nnctl.io.records import csv_text, dumps
    from nnctl.io.run_info import differing_keys, find_runs, read_run, sort_runs

    for given in paths:
        expect(given, (RUN, SWEEP_DIR, TOUR_DIR), "runs")
    found = [read_run(path) for path in find_runs([Path(p) for p in paths or ("runs",)])]
    if not found:
        click.echo(shown(f"no runs in {', '.join(paths or ('runs',))}"))
        return
    keys = differing_keys(found)
    rows = [run.as_dict(keys) for run in sort_runs(found, sort)]
    if as_json:
        for row in rows:
            click.echo(dumps(row))
    elif as_csv:
        click.echo(csv_text(rows), nl=False, color=True)  # the real names: ESC kept
    else:
        console = Console(emoji=False, highlight=False)
        print_tables([runs_table(rows, keys, console.width)], console)

"""`nnctl sweep`: train every point of a sweep on Ray and rank the points."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nnctl.terminal import shown


@click.command()
@click.argument("sweep_path", metavar="[SWEEP.yaml]", required=False)
@click.option("--out", help="Sweep directory (default: runs/<sweep name>[-k]).")
@click.option("--workers", type=click.IntRange(1, 4096),
              help="Trials at once (default: this machine's cores; on a cluster, its CPUs).")
@click.option("--address", metavar="HOST:PORT",
              help="Run on this Ray cluster (default: $RAY_ADDRESS, else Ray embedded here).")
@click.option("--resume", "resume_dir", metavar="DIR",
              help="Continue the sweep in DIR: finished trials are kept, stopped ones resume.")
def sweep(sweep_path: str | None, out: str | None, workers: int | None, address: str | None,
          resume_dir: str | None) -> None:
    """Train every point of SWEEP.yaml once per seed, on Ray, and rank the points.

    Each trial is a run directory DIR/trials/<id>/ (evaluate, plot, runs and train --resume
    take it). On stderr a line per finished trial and a progress bar; on stdout the points
    ranked by the validation metric (mean ± sd over seeds), then the best point's test
    accuracy; DIR/results.csv, results.jsonl, metric-vs-KEY.png per swept key and
    best-curves.png. Ctrl-C stops it, trials saving their checkpoints; --resume DIR continues
    it. SWEEP.yaml takes base (a config file or inline), parameters (dotted keys with values:
    [...] or a distribution), method (grid, or random with samples), seeds, metric
    (val_accuracy, val_loss) and early_stop (ASHA): see docs/tutorials/sweeps.md. Needs:
    pip install -e '.[sweep]'.

    \b
    Example:
      nnctl sweep configs/sweeps/quick-lr.yaml --out runs/lr --workers 2
      nnctl sweep --resume runs/lr
      nnctl sweep configs/sweeps/quick-lr.yaml --address 127.0.0.1:6379
    """
    from nnctl.io.path_kinds import SWEEP_DIR, SWEEP_FILE, expect
    from nnctl.sweep import stop_while_starting

    if sweep_path is not None:
        expect(sweep_path, (SWEEP_FILE,), "sweep")
    if resume_dir is not None:
        expect(resume_dir, (SWEEP_DIR,), "sweep")

    with stop_while_starting():
        from nnctl.cli.text import print_tables
        from nnctl.sweep.results import best_line, results_table
        from nnctl.sweep.runner import run_sweep
        from nnctl.sweep.spec import load_sweep

        if sweep_path is None and resume_dir is None:
            raise click.UsageError("give a SWEEP.yaml to run, or --resume DIR to continue a "
                                   "sweep")
        if resume_dir is not None and out is not None:
            raise click.UsageError("--resume continues a sweep in place: it takes no --out")
        spec = load_sweep(sweep_path) if sweep_path is not None else None
    result = run_sweep(spec, Path(out) if out else None,  # from here on it handles signals
                       resume=Path(resume_dir) if resume_dir else None, workers=workers,
                       address=address, echo=lambda line: click.echo(shown(line), err=True),
                       show_progress=sys.stderr.isatty())
    print_tables([results_table(result.sweep, result.results, result.directory)])
    click.echo(best_line(result.sweep, result.results))
    click.echo(" ".join(shown(path) for path in result.files))

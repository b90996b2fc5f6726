"""`nnctl train`: train the network a config describes, or continue a run."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console


@click.command()
@click.argument("config_path", metavar="[CONFIG]", required=False)
@click.option("--out", help="Run directory (default: runs/<config name>[-k]).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set training.epochs=3 "
                   "(repeatable; value is YAML).")
@click.option("--resume", "resume_dir", metavar="RUN",
              help="Continue the run in RUN from its last checkpoint (CONFIG then optional).")
@click.option("--force", is_flag=True,
              help="Start over in --out even if it holds a run (only a run nnctl made).")
@click.option("--quiet", "-q", is_flag=True,
              help="No summary, progress bar or per-epoch lines: only the result.")
@click.option("--keys", "list_keys", is_flag=True,
              help="List every config key with its type, default and meaning, and exit.")
def train(config_path: str | None, out: str | None, overrides: tuple[str, ...],
          resume_dir: str | None, force: bool, quiet: bool, list_keys: bool) -> None:
    """Train the network described by CONFIG, per example, and write a run directory.

    On stderr: what will run, a progress bar, and one line per epoch (`*`: a better validation
    accuracy, whose weights are kept; `left`: the estimated time to the last epoch). On stdout:
    the time taken, the kept epoch and its test accuracy. `nnctl train --keys` lists the config
    keys that CONFIG and --set take.

    Ctrl-C (or SIGTERM) stops at the next chunk of examples, saves where training stood and
    exits 130 (143); `--resume RUN` continues exactly there. A run is written by one process at a
    time: a second `train` or `--resume` of it is refused while the first runs.

    \b
    Example:
      nnctl train configs/mlp-300.yaml --out runs/mlp --set training.epochs=3
      nnctl train --resume runs/mlp --set training.epochs=20
      nnctl train --keys
    """
    from nnctl.cli.text import epoch_line, keys_text, result_lines, run_summary
    from nnctl.io.config import describe_keys, load_config
    from nnctl.io.path_kinds import CONFIG, RUN, expect
    from nnctl.io.run_dir import resume_config
    from nnctl.tasks.train import deferred_signals, interrupted_after_completion
    from nnctl.tasks.train import train as run_training

    if list_keys:
        click.echo(keys_text(describe_keys()))
        return
    if config_path is not None:
        expect(config_path, (CONFIG,), "train")
    if resume_dir is not None:
        expect(resume_dir, (RUN,), "train")
    if resume_dir is not None:
        if out is not None or force:
            raise click.UsageError(
                "--resume continues a run in place: it takes no --out or --force"
            )
        config = resume_config(Path(resume_dir), overrides, config_path)
    elif config_path is None:
        raise click.UsageError("give a CONFIG to train, or --resume RUN to continue a run")
    else:
        config = load_config(config_path, overrides)
    err, out_console = (Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)
                        for stderr in (True, False))
    started = []  # the Run, for the epoch lines

    def on_start(run) -> None:
        started.append(run)
        if not quiet:
            err.print("\n".join(run_summary(run)))

    def on_epoch(record: dict) -> None:
        if not quiet:
            err.print(epoch_line(record, started[0]))

    with deferred_signals() as received:  # a signal after the run completed, too, ends as below
        result = run_training(
            config, Path(resume_dir or out) if (resume_dir or out) else None,
            name=Path(config_path or "run").stem, resume=resume_dir is not None, force=force,
            show_progress=not quiet and sys.stderr.isatty(), on_start=on_start, on_epoch=on_epoch)
        out_console.print("\n".join(result_lines(result)))
    if received:
        raise interrupted_after_completion(received[0], result.run_dir)

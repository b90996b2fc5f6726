"""The command line: parse, validate, call the library, print. No training logic lives here.

Exit statuses: 0 success; 1 data, checkpoint or output-directory error; 2 usage or config error;
3 training diverged; 130 / 143 interrupted by SIGINT / SIGTERM (after saving a checkpoint).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from nnctl import __version__
from nnctl.errors import NnctlError


class NnctlGroup(click.Group):
    """Turns the project's errors into one-line `Error: ...` messages with their exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except NnctlError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            if e.exit_code in (130, 143):  # interrupted on purpose: say how to resume, no "Error"
                click.echo(str(e), err=True)
                ctx.exit(e.exit_code)
            error = click.ClickException(str(e))
            error.exit_code = e.exit_code
            raise error from None
        except KeyboardInterrupt:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=NnctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnctl")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Train, evaluate and inspect digit classifiers on MNIST-style data.

    \b
    Example:
      nnctl train configs/default.yaml
      nnctl evaluate runs/default
      nnctl inspect-weights runs/default --out figures/
    """
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("config_path", metavar="[CONFIG]", required=False, type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (default: runs/<config name>[-k]).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set training.epochs=3 (repeatable; value is YAML).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), metavar="RUN",
              help="Continue the run in RUN from its last checkpoint (CONFIG then optional).")
@click.option("--force", is_flag=True, help="Start over in --out even if it is not empty.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-epoch lines.")
def train(config_path: str | None, out: str | None, overrides: tuple[str, ...], resume_dir: str | None,
          force: bool, quiet: bool) -> None:
    """Train the network described by CONFIG, per example, and write a run directory.

    Ctrl-C (or SIGTERM) stops at the next chunk of examples, saves where training stood and
    exits 130 (143); `--resume RUN` continues exactly there.

    \b
    Example:
      nnctl train configs/mlp-300.yaml --out runs/mlp --set training.epochs=3
      nnctl train --resume runs/mlp --set training.epochs=20
    """
    from nnctl.config import load_config
    from nnctl.engine import engine_name
    from nnctl.report import epoch_line, print_tables, training_table
    from nnctl.rundir import choose_run_dir, resume_config
    from nnctl.train import train as run_training

    if resume_dir is not None:
        if out is not None or force:
            raise click.UsageError("--resume continues a run in place: it takes no --out or --force")
        run_dir = Path(resume_dir)
        config = resume_config(run_dir, overrides, config_path)
    elif config_path is None:
        raise click.UsageError("give a CONFIG to train, or --resume RUN to continue a run")
    else:
        config = load_config(config_path, overrides)
        run_dir = choose_run_dir(out, Path(config_path).stem, force)
    err = Console(stderr=True)
    tc = config.training
    sizes = "-".join(map(str, config.model.hidden)) or "none"

    def on_start() -> None:
        if not quiet:
            err.print(f"nnctl: {'resuming' if resume_dir else 'training'}: rule {tc.rule}, hidden layers "
                      f"{sizes}, engine {engine_name(tc.engine)}, {tc.dtype}, run directory {run_dir}",
                      highlight=False, soft_wrap=True)

    def on_epoch(record: dict) -> None:
        if not quiet:
            err.print(epoch_line(record, tc.epochs), highlight=False, soft_wrap=True)

    result = run_training(config, run_dir, resume=resume_dir is not None,
                          show_progress=not quiet and sys.stderr.isatty(), on_start=on_start,
                          on_epoch=on_epoch)
    out_console = Console()
    if not quiet and result.history:
        print_tables([training_table(result.history)], out_console)
    out_console.print(
        f"stopped: {result.stop_reason}\n"
        f"test accuracy {result.test['accuracy']:.2%} (error {1 - result.test['accuracy']:.2%}) "
        f"with the weights of epoch {result.best_epoch} -> {run_dir}",
        highlight=False,
        soft_wrap=True,
    )


@cli.command()
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test", show_default=True,
              help="Which split of the run's data to evaluate on.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Evaluate on another directory of IDX files.")
@click.option("--images", type=click.Path(dir_okay=False), help="An IDX images file (with --labels).")
@click.option("--labels", type=click.Path(dir_okay=False), help="An IDX labels file (with --images).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
@click.option("--figure", type=click.Path(dir_okay=False),
              help="Also draw the confusion matrix and the worst misclassified images (PNG).")
def evaluate(target: str, split: str, data_dir: str | None, images: str | None, labels: str | None,
             as_json: bool, figure: str | None) -> None:
    """Accuracy, loss, per-class precision/recall and the confusion matrix of a trained network.

    CHECKPOINT_OR_RUN is a .npz checkpoint or a run directory (its best.npz is used).

    \b
    Example:
      nnctl evaluate runs/default --json
      nnctl evaluate runs/default --figure figures/confusion.png
    """
    from nnctl.evaluate import evaluate_checkpoint
    from nnctl.report import evaluation_tables, print_tables

    result = evaluate_checkpoint(target, split, images, labels, data_dir, figure)
    if as_json:
        click.echo(json.dumps(result))
    else:
        print_tables(evaluation_tables(result))


@cli.command("inspect-weights")
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), default="figures", show_default=True,
              help="Directory for the PNG and GIF files.")
@click.option("--units", type=click.IntRange(min=1), default=100, show_default=True,
              help="Hidden units to draw for a multi-layer network.")
@click.option("--zoom", type=click.IntRange(1, 32), default=4, show_default=True, help="Pixels per weight.")
def inspect_weights(target: str, out: str, units: int, zoom: int) -> None:
    """Draw the weights as images: the 10 templates of a single layer, or first-layer filters.

    Given a run directory, also the change of the weights epoch by epoch (montage PNG and GIF).

    \b
    Example:
      nnctl inspect-weights runs/single-layer-delta --out figures/
    """
    from nnctl.images import inspect_weights as draw

    for path in draw(target, Path(out), units=units, zoom=zoom):
        click.echo(str(path))


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--examples", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Training examples to check the gradients on, one at a time.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key.")
def gradcheck(config_path: str, examples: int, overrides: tuple[str, ...]) -> None:
    """Check backprop's gradients for CONFIG's network against central finite differences.

    Prints the largest relative error per layer (float64); exits 1 above the tolerance.

    \b
    Example:
      nnctl gradcheck configs/mlp-300.yaml --examples 5
    """
    from nnctl.config import load_config
    from nnctl.gradcheck import check, verdict
    from nnctl.report import gradcheck_table, print_tables

    results, note = check(load_config(config_path, overrides), examples)
    if note:
        click.echo(f"note: {note}", err=True)
    print_tables([gradcheck_table(results, examples)])
    click.echo(verdict(results))


@cli.command()
@click.argument("runs", metavar="RUN...", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The PNG to write.")
def plot(runs: tuple[str, ...], out: str) -> None:
    """Learning curves: train and validation loss and accuracy per epoch of one or more runs.

    \b
    Example:
      nnctl plot runs/mlp-300 runs/mlp-300-100 --out figures/curves.png
    """
    from nnctl.plot import learning_curves

    click.echo(str(learning_curves([Path(r) for r in runs], Path(out))))


def main() -> None:
    cli(prog_name="nnctl")

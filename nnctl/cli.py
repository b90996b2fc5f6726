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


@cli.command("predict")
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.argument("inputs", metavar="IMAGE_OR_DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout.")
@click.option("--save-preprocessed", type=click.Path(file_okay=False), metavar="DIR",
              help="Write what the network saw, one PNG per image.")
def predict_command(target: str, inputs: tuple[str, ...], as_json: bool, save_preprocessed: str | None) -> None:
    """Classify your own digit images (PNG, JPEG, BMP... anything Pillow reads).

    Each image is prepared the way MNIST was made: grayscale, inverted if the background is
    light, cropped to the digit, scaled into a 20x20 box, centred by its centre of mass in 28x28.
    Exits 1 if any image could not be read (the others are still classified).

    \b
    Example:
      nnctl predict runs/default my-digits/ --save-preprocessed seen/
    """
    from nnctl.errors import DataError
    from nnctl.predict import predict

    results = predict(target, [Path(p) for p in inputs],
                      Path(save_preprocessed) if save_preprocessed else None)
    if not results:
        raise DataError(f"no image files in {', '.join(inputs)}")
    for r in results:
        if as_json:
            click.echo(json.dumps(r))
        elif "error" in r:
            click.echo(f"Error: {r['error']}", err=True)
        else:
            others = ", ".join(f"{c['digit']} ({c['probability']:.1%})" for c in r["candidates"])
            click.echo(f"{r['file']}: {r['prediction']} ({r['probability']:.1%}); then {others}")
    failed = sum("error" in r for r in results)
    if failed:
        click.echo(f"{failed} of {len(results)} images could not be classified", err=True)
        sys.exit(1)


@cli.group()
def data() -> None:
    """Describe, verify, download and import MNIST-style datasets (four IDX files).

    \b
    Example:
      nnctl data info data/mnist --figure figures/mnist.png
      nnctl data fetch fashion-mnist --to data/fashion
    """


@data.command("info")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--figure", type=click.Path(dir_okay=False), help="Also draw sample and mean images (PNG).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
def data_info(directory: str, figure: str | None, as_json: bool) -> None:
    """Counts, image shape, pixel range and class balance of a dataset directory.

    \b
    Example:
      nnctl data info data/mnist --figure figures/mnist.png
    """
    from nnctl.datasets import info, info_figure
    from nnctl.report import dataset_tables, print_tables

    result = info(directory)
    if figure:
        info_figure(directory, figure)
    if as_json:
        click.echo(json.dumps(result))
    else:
        print_tables(dataset_tables(result))
        if figure:
            click.echo(figure)


@data.command("verify")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", help="The known dataset to check against (default: recognised by its sums).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON to stdout.")
def data_verify(directory: str, name: str | None, as_json: bool) -> None:
    """Check the IDX structure of the four files and, for known datasets, their SHA-256 sums.

    Exits 1 when a file is missing or fails a check.

    \b
    Example:
      nnctl data verify data/mnist
    """
    from nnctl.datasets import verify
    from nnctl.errors import DataError
    from nnctl.report import print_tables, verify_table

    report = verify(directory, name)
    if as_json:
        click.echo(json.dumps(report))
    else:
        print_tables([verify_table(report)])
    bad = [r for r in report if not r["ok"]]
    if bad:
        raise DataError(f"{directory}: {len(bad)} of {len(report)} files failed: {bad[0]['message']}")


@data.command("fetch")
@click.argument("name")
@click.option("--to", "to", type=click.Path(file_okay=False), required=True, help="Directory to write.")
@click.option("--mirror", "mirrors", multiple=True, metavar="URL",
              help="Try this base URL instead of the known mirrors (repeatable).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds without data before a mirror is given up.")
def data_fetch(name: str, to: str, mirrors: tuple[str, ...], timeout: float) -> None:
    """Download a known dataset (mnist, fashion-mnist, kmnist, emnist-digits), checking SHA-256.

    Tries the next mirror when one fails; writes each file atomically.

    \b
    Example:
      nnctl data fetch fashion-mnist --to data/fashion
    """
    from tqdm import tqdm

    from nnctl.datasets import fetch

    bars: dict[str, tqdm] = {}

    def progress(file_name: str, done: int, total: int | None) -> None:
        bar = bars.get(file_name)
        if bar is None or done < bar.n:  # a new file, or the next mirror started over
            if bar is not None:
                bar.close()
            bar = bars[file_name] = tqdm(total=total, desc=file_name, unit="B", unit_scale=True,
                                         file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
        bar.update(done - bar.n)

    try:
        written = fetch(name, to, mirrors=list(mirrors) or None, progress=progress, timeout=timeout)
    finally:
        for bar in bars.values():
            bar.close()
    for path in written:
        click.echo(str(path))


@data.command("import-csv")
@click.argument("train_csv", metavar="FILE.csv", type=click.Path(dir_okay=False))
@click.option("--to", "to", type=click.Path(file_okay=False), required=True, help="Directory to write.")
@click.option("--test", "test_csv", type=click.Path(dir_okay=False), help="A CSV for the test split.")
@click.option("--shape", metavar="HxW", help="Image shape (default: the square root of the pixel columns).")
@click.option("--force", is_flag=True, help="Overwrite IDX files already in --to.")
def data_import_csv(train_csv: str, to: str, test_csv: str | None, shape: str | None, force: bool) -> None:
    """Convert CSV (label, then one column per pixel, 0-255) to gzipped IDX files.

    \b
    Example:
      nnctl data import-csv mnist_train.csv --test mnist_test.csv --to data/from-csv
    """
    from nnctl.datasets import import_csv

    image_shape = None
    if shape is not None:
        try:
            image_shape = tuple(int(d) for d in shape.lower().split("x"))
        except ValueError:
            raise click.BadParameter(f"expected HxW, e.g. 28x28, got {shape!r}", param_hint="--shape") from None
    for path in import_csv(train_csv, to, test_csv=test_csv, image_shape=image_shape, overwrite=force):
        click.echo(str(path))


def main() -> None:
    cli(prog_name="nnctl")

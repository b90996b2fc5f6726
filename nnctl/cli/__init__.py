"""The command line: parse, validate, call the library, print. No training logic lives here.

Exit statuses: 0 success; 1 data, checkpoint or output-directory error; 2 usage or config error;
3 training diverged; 130 / 143 interrupted by SIGINT / SIGTERM (after saving a checkpoint).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
from rich.console import Console

from nnctl import __version__
from nnctl.errors import SIGNAL_EXIT, Interrupted, NnctlError, OutputError
from nnctl.terminal import guard_stdout, shown, silence_stdout


class NnctlGroup(click.Group):
    """Turns the project's errors into one-line `Error: ...` messages with their exit status;
    everything they print has its control characters escaped (terminal.shown: a message names
    paths, and a directory's name may hold an escape sequence)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (Exception, KeyboardInterrupt) as raised:
            e = _reason(raised)
            if not isinstance(e, (NnctlError, KeyboardInterrupt)) or (
                    ctx.obj and ctx.obj.get("debug")):
                raise
            if isinstance(e, KeyboardInterrupt):
                click.echo("interrupted", err=True)
                ctx.exit(SIGNAL_EXIT[signal.SIGINT])
            if isinstance(e, Interrupted):  # stopped on purpose: say how to resume, no "Error"
                click.echo(shown(str(e)), err=True)
                ctx.exit(e.exit_code)
            error = click.ClickException(shown(str(e)))
            error.exit_code = e.exit_code
            raise error from None


def _reason(raised: BaseException) -> BaseException:
    """`raised`, or the KeyboardInterrupt or Interrupted it came from: a signal that arrives while
    a module is being imported can surface as another error (`RuntimeError: Error calling
    __set_name__ ...`) raised from it."""
    error: BaseException | None = raised
    for _ in range(32):  # a chain of causes is short; never follow a cycle
        if error is None or isinstance(error, (NnctlError, KeyboardInterrupt)):
            break
        error = error.__cause__ or error.__context__
    return error if isinstance(error, (KeyboardInterrupt, Interrupted)) else raised


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
    from nnctl.io.run_dir import resume_config
    from nnctl.tasks.train import deferred_signals, interrupted_after_completion
    from nnctl.tasks.train import train as run_training

    if list_keys:
        click.echo(keys_text(describe_keys()))
        return
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


@cli.command()
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test",
              show_default=True, help="Which split of the run's data to evaluate on.")
@click.option("--data-dir", help="Evaluate on another directory of IDX files.")
@click.option("--images", help="An IDX images file (with --labels).")
@click.option("--labels", help="An IDX labels file (with --images).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
@click.option("--figure",
              help="Also draw the confusion matrix and the worst misclassified images (PNG).")
@click.option("--force", is_flag=True, help="Replace the --figure file if it exists.")
def evaluate(target: str, split: str, data_dir: str | None, images: str | None,
             labels: str | None, as_json: bool, figure: str | None, force: bool) -> None:
    """Accuracy, loss, per-class precision/recall and the confusion matrix of a trained network.

    CHECKPOINT_OR_RUN is a .npz checkpoint or a run directory (its best.npz is used).

    \b
    Example:
      nnctl evaluate runs/default --json
      nnctl evaluate runs/default --figure figures/confusion.png
    """
    from nnctl.cli.text import evaluation_tables, print_tables
    from nnctl.io.records import dumps
    from nnctl.tasks.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(target, split, images, labels, data_dir, figure, force)
    if as_json:
        click.echo(dumps(result))
    else:
        print_tables(evaluation_tables(result))


@cli.command("inspect-weights")
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

    for path in draw(target, Path(out), units=units, zoom=zoom, force=force):
        click.echo(shown(path))


@cli.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--examples", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Training examples to check the gradients on, one at a time.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key.")
def gradcheck(config_path: str, examples: int, overrides: tuple[str, ...]) -> None:
    """Check backprop's gradients for CONFIG's network against central finite differences.

    Prints the largest relative error per layer (float64); exits 1 above the tolerance.

    \b
    Example:
      nnctl gradcheck configs/mlp-300.yaml --examples 5
    """
    from nnctl.cli.text import gradcheck_table, print_tables
    from nnctl.io.config import load_config
    from nnctl.tasks.gradcheck import check, verdict

    results, note = check(load_config(config_path, overrides), examples)
    if note:
        click.echo(shown(f"note: {note}"), err=True)
    print_tables([gradcheck_table(results, examples)])
    click.echo(verdict(results))


@cli.command()
@click.option("--out", default="tour", show_default=True, metavar="DIR",
              help="Directory for index.html, the runs and the figures (new, empty, or a "
                   "tour's).")
@click.option("--quick", is_flag=True,
              help="MNIST runs on 5,000 examples, 3 epochs, 1 seed (under 20 s).")
@click.option("--force", is_flag=True,
              help="Write again over a finished tour in DIR (only the tour's own files).")
def tour(out: str, quick: bool, force: bool) -> None:
    """The lecture's claims, each shown by a run you can repeat: one line per claim with its
    measured evidence, and DIR/index.html, one self-contained page (figures embedded, no
    network, no script) giving for each claim the lecture's words, the command, the figure and
    the number. Exits 1 if a claim did not hold as measured (the page says which).

    \b
    Example:
      nnctl tour --out tour/
      chromium --headless --screenshot=tour.png --window-size=1280,16000 tour/index.html
    """
    from nnctl.tour import run_tour

    page = run_tour(Path(out), quick, force,
                    progress=lambda message: click.echo(shown(f"tour: {message}"), err=True))
    click.echo(shown(f"wrote {page}"))


@cli.command()
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
    from nnctl.io.run_info import run_labels

    paths = [Path(r) for r in runs]
    click.echo(shown(learning_curves(paths, Path(out), force, labels=run_labels(paths))))


@cli.command()
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
    accuracy; DIR/results.csv, results.jsonl and best-points.png. Ctrl-C stops it, trials
    saving their checkpoints; --resume DIR continues it. SWEEP.yaml takes base (a config file
    or inline), parameters (dotted keys with values: [...] or a distribution), method (grid, or
    random with samples), seeds, metric (val_accuracy, val_loss) and early_stop (ASHA): see the
    README's Sweeps. Needs: pip install -e '.[sweep]'.

    \b
    Example:
      nnctl sweep configs/sweeps/quick-lr.yaml --out runs/lr --workers 2
      nnctl sweep --resume runs/lr
      nnctl sweep configs/sweeps/quick-lr.yaml --address 127.0.0.1:6379
    """
    from nnctl.sweep import stop_while_starting

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


@cli.command("predict")
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.argument("inputs", metavar="IMAGE_OR_DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout.")
@click.option("--save-preprocessed", metavar="DIR",
              help="Write what the network saw, one PNG per image (photo.jpg -> photo.jpg.png), "
                   "and contact-sheet.png: each image beside what the network saw, enlarged.")
@click.option("--force", is_flag=True,
              help="Replace PNGs of the same names in --save-preprocessed (never an input).")
def predict_command(target: str, inputs: tuple[str, ...], as_json: bool,
                    save_preprocessed: str | None, force: bool) -> None:
    """Classify your own digit images (PNG, JPEG, BMP... anything Pillow reads).

    Each image is prepared the way MNIST was made: grayscale, inverted if the background is
    light, cropped to the digit, scaled into a 20x20 box, centred by its centre of mass in 28x28.
    In a directory, files that are not images are skipped (and counted); a file named explicitly
    must be an image. Exits 1 if any image could not be read (the others are still classified).

    \b
    Example:
      nnctl predict runs/default my-digits/ --save-preprocessed seen/
    """
    from nnctl.errors import DataError
    from nnctl.io.records import dumps
    from nnctl.tasks.predict import CONTACT_SHEET, expand_inputs, predict, skipped_note

    files, skipped = expand_inputs([Path(p) for p in inputs])
    if not files:
        raise DataError(f"no image files in {', '.join(inputs)}"
                        + (f" ({skipped_note(skipped)})" if skipped else ""))
    if skipped:
        click.echo(shown(f"note: {skipped_note(skipped)}"), err=True)
    results = predict(target, files, Path(save_preprocessed) if save_preprocessed else None,
                      force)
    for r in results:
        if as_json:
            click.echo(dumps(r))
        elif "error" in r:
            click.echo(shown(f"Error: {r['error']}"), err=True)
        else:
            others = ", ".join(f"{c['digit']} ({c['probability']:.1%})" for c in r["candidates"])
            saved = f"; saved {r['preprocessed']}" if "preprocessed" in r else ""
            click.echo(shown(f"{r['file']}: {r['prediction']} ({r['probability']:.1%})"
                             f"{'; then ' + others if others else ''}{saved}"))
    if not as_json and any("preprocessed" in r for r in results):
        click.echo(shown(f"contact sheet: {Path(save_preprocessed) / CONTACT_SHEET}"))
    failed = sum("error" in r for r in results)
    if failed:
        raise DataError(f"{failed} of {len(results)} images could not be classified")


@cli.command("serve")
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets other machines use the "
                   "server (a warning says so).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free port).")
def serve_command(target: str, host: str, port: int) -> None:
    """Draw digits in the browser and watch the network answer: a local page and its API.

    Prints the URL to open. The page shows the prediction as you draw, the image the network
    sees (nnctl's preprocessing, as predict does it) and the templates or hidden units that
    respond. Scripts can POST an image to /predict (the answer is predict --json's object) and
    GET /model. Ctrl-C (or SIGTERM) stops it (exit 130 / 143). Nothing is written to disk.

    \b
    Example:
      nnctl serve runs/default
      curl --data-binary @digit.png -H 'Content-Type: image/png' http://127.0.0.1:8000/predict
    """
    from nnctl.serve.app import is_loopback, serve, url_of

    if not is_loopback(host):
        click.echo(shown(f"warning: --host {host} is not loopback: any machine that reaches it "
                         "can use this server (no password)"), err=True)

    def ready(server) -> None:
        summary = server.model.summary
        click.echo(shown(f"serving {summary['run']} ({summary['network']}) at {url_of(server)} "
                         "- open it in a browser; Ctrl-C stops"))

    serve(target, host, port, on_ready=ready)


@cli.group()
def data() -> None:
    """Describe, verify, download and import MNIST-style datasets (four IDX files).

    \b
    Example:
      nnctl data info data/mnist --figure figures/mnist.png
      nnctl data fetch fashion-mnist --to data/fashion
    """


@data.command("info")
@click.argument("directory")
@click.option("--figure", metavar="FILE.png", help="Also draw sample and mean images (PNG).")
@click.option("--force", is_flag=True, help="Replace the --figure file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
def data_info(directory: str, figure: str | None, force: bool, as_json: bool) -> None:
    """Counts, image shape, pixel range and class balance of a dataset directory.

    \b
    Example:
      nnctl data info data/mnist --figure figures/mnist.png
    """
    from nnctl.cli.text import dataset_tables, print_tables
    from nnctl.io.datasets import info
    from nnctl.io.records import dumps

    result = info(directory)
    if figure:
        from nnctl.figures.dataset import info_figure  # Pillow only when a figure is asked for

        info_figure(directory, figure, overwrite=force)
    if as_json:
        click.echo(dumps(result))
    else:
        print_tables(dataset_tables(result))
        if figure:
            click.echo(shown(figure))


@data.command("verify")
@click.argument("directory")
@click.option("--name",
              help="The known dataset to check against (default: recognised by its sums).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON to stdout.")
def data_verify(directory: str, name: str | None, as_json: bool) -> None:
    """Check the IDX structure of the four files and, for known datasets, their SHA-256 sums.

    Exits 1 when a file is missing or fails a check.

    \b
    Example:
      nnctl data verify data/mnist
    """
    from nnctl.cli.text import print_tables, verify_table
    from nnctl.errors import DataError
    from nnctl.io.datasets import verify
    from nnctl.io.records import dumps

    report = verify(directory, name)
    if as_json:
        click.echo(dumps(report))
    else:
        print_tables([verify_table(report)])
    bad = [r for r in report if not r["ok"]]
    if bad:
        raise DataError(
            f"{directory}: {len(bad)} of {len(report)} files failed: {bad[0]['message']}"
        )


@data.command("fetch")
@click.argument("name")
@click.option("--to", "to", metavar="DIR", required=True, help="Directory to write.")
@click.option("--mirror", "mirrors", multiple=True, metavar="URL",
              help="Try this base URL (http, https, file) instead of the known mirrors "
                   "(repeatable).")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds without data before a mirror is given up.")
@click.option("--deadline", type=float, metavar="SECONDS",
              help="Seconds one file may take from one mirror in all "
                   "(default: 600, plus 1 per 100 kB of the file).")
@click.option("--force", is_flag=True,
              help="Replace files in --to that are not the published ones (else refused).")
def data_fetch(name: str, to: str, mirrors: tuple[str, ...], timeout: float,
               deadline: float | None, force: bool) -> None:
    """Download a known dataset (mnist, fashion-mnist, kmnist, emnist-digits), checking SHA-256.

    Tries the next mirror when one fails; writes each file atomically. Files already in --to
    with the published SHA-256 are kept; other files there are refused unless --force.

    \b
    Example:
      nnctl data fetch fashion-mnist --to data/fashion
    """
    from tqdm import tqdm

    from nnctl.io.datasets import fetch

    bars: dict[str, tqdm] = {}

    def progress(file_name: str, done: int, total: int | None) -> None:
        bar = bars.get(file_name)
        if bar is None or done < bar.n:  # a new file, or the next mirror started over
            if bar is not None:
                bar.close()
            bar = bars[file_name] = tqdm(total=total, desc=file_name, unit="B", unit_scale=True,
                                         file=sys.stderr, disable=not sys.stderr.isatty(),
                                         leave=False)
        bar.update(done - bar.n)

    kept: list[Path] = []
    try:
        written = fetch(name, to, mirrors=list(mirrors) or None, progress=progress, timeout=timeout,
                        deadline=deadline, force=force, on_kept=kept.append)
    finally:
        for bar in bars.values():
            bar.close()
    for path in written:
        click.echo(shown(path))
    for path in kept:
        click.echo(shown(f"{path}: already there with the published content, kept"), err=True)


@data.command("import-csv")
@click.argument("train_csv", metavar="FILE.csv")
@click.option("--to", "to", metavar="DIR", required=True, help="Directory to write.")
@click.option("--test", "test_csv", metavar="FILE.csv", help="A CSV for the test split.")
@click.option("--shape", metavar="HxW",
              help="Image shape (default: the square root of the pixel columns).")
@click.option("--force", is_flag=True, help="Overwrite IDX files already in --to.")
def data_import_csv(train_csv: str, to: str, test_csv: str | None, shape: str | None,
                    force: bool) -> None:
    """Convert CSV (label, then one column per pixel, 0-255) to gzipped IDX files.

    \b
    Example:
      nnctl data import-csv mnist_train.csv --test mnist_test.csv --to data/from-csv
    """
    from nnctl.io.datasets.csv_import import import_csv, parse_shape

    image_shape = parse_shape(shape) if shape is not None else None
    for path in import_csv(train_csv, to, test_csv=test_csv, image_shape=image_shape,
                           overwrite=force):
        click.echo(shown(path))


@data.command("augment-preview")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--out", required=True, metavar="FILE.png", help="The PNG to write.")
@click.option("--examples", type=click.IntRange(1, 100), default=8, show_default=True,
              help="Training digits to show (rows), one of each class in turn.")
@click.option("--variants", type=click.IntRange(1, 30), default=6, show_default=True,
              help="Random distortions of each digit (columns).")
@click.option("--force", is_flag=True, help="Replace the --out file if it exists.")
def data_augment_preview(config_path: str, out: str, examples: int, variants: int,
                         force: bool) -> None:
    """Draw training digits beside random distortions of them, as CONFIG's data.augment says.

    data.augment takes elastic: {sigma, alpha} (Simard et al. 2003, pixels) and affine:
    {rotation, shear} (degrees), {scale} (a fraction) and {translation} (pixels), each a largest
    value drawn uniformly in ±; absent means off. Exits 2 if none is on.

    \b
    Example:
      nnctl data augment-preview configs/default.yaml --out figures/augment.png
    """
    from nnctl.core.distortions import preview

    click.echo(shown(preview(config_path, out, examples, variants, force)))


@cli.command("runs")
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
    from nnctl.cli.text import print_tables, runs_table
    from nnctl.io.records import csv_text, dumps
    from nnctl.io.run_info import differing_keys, find_runs, read_run, sort_runs

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
        print_tables([runs_table(rows, keys)])


def main() -> int:
    """The `nnctl` command: run it, then flush standard output; returns the exit status.

    Standard output that cannot be written (closed, a full disk) is one line `Error: cannot
    write to standard output: REASON` and exit 1, for every command, also when the failure only
    shows at the last flush; a reader that went away (`| head`) ends it quietly, as click does.
    """
    stdout = guard_stdout()
    try:
        cli.main(prog_name="nnctl")
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
    except OutputError as e:  # raised outside a command: --help, --version
        click.echo(f"Error: {e}", err=True)
        status = e.exit_code
    try:
        stdout.flush()
    except (BrokenPipeError, OutputError) as e:
        silence_stdout()
        if status == 0 and isinstance(e, OutputError):
            click.echo(f"Error: {e}", err=True)
        status = status or 1
    return status

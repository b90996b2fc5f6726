"""`nnctl data`: describe, verify, download and import MNIST-style datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nnctl.terminal import shown


@click.group()
def data() -> None:
    """Describe, verify, download and import MNIST-style datasets (four IDX files).

    \b
    Example:
      nnctl data info data/mnist --figure figures/mnist.png
      nnctl data fetch fashion-mnist --to data/fashion
    """


@data.command("info")
@click.argument("directory")
@click.option("--figure", metavar="FILE",
              help="Also draw sample and mean images, in the format the name says: .png, .svg, "
                   ".pdf (or .jpg, .gif, .bmp, .tif, .webp).")
@click.option("--force", is_flag=True, help="Replace the --figure file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
def data_info(directory: str, figure: str | None, force: bool, as_json: bool) -> None:
    """Counts, image shape, pixel range and class balance of a dataset directory.

    \b
    Example:
      nnctl data info data/mnist --figure figures/mnist.png
    """
    from nnctl.cli.text import dataset_tables, print_tables
    from nnctl.figures.saving import figure_format
    from nnctl.io.datasets import info
    from nnctl.io.path_kinds import DATASET, expect
    from nnctl.io.records import dumps

    expect(directory, (DATASET,), "data")
    if figure:
        figure_format(figure)  # before the data is read
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
    from nnctl.io.path_kinds import DATASET, expect
    from nnctl.io.records import dumps

    expect(directory, (DATASET,), "data")
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
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--out", required=True, metavar="FILE",
              help="The figure to write, in the format its name says: .png, .svg, .pdf (or "
                   ".jpg, .gif, .bmp, .tif, .webp).")
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
      nnctl data augment-preview configs/classic/mlp-300-distort-best.yaml --out figures/augment.png
    """
    from nnctl.io.path_kinds import CONFIG, expect
    from nnctl.tasks.preview import preview

    expect(config_path, (CONFIG,), "augment-preview")
    click.echo(shown(preview(config_path, out, examples, variants, force)))

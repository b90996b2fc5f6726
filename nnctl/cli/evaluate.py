"""`nnctl evaluate`: accuracy, loss, per-class figures and confusion of a trained network."""

from __future__ import annotations

import click


@click.command()
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.option("--split", type=click.Choice(["test", "validation", "train"]), default="test",
              show_default=True, help="Which split of the run's data to evaluate on.")
@click.option("--data-dir", help="Evaluate on another directory of IDX files.")
@click.option("--images", help="An IDX images file (with --labels).")
@click.option("--labels", help="An IDX labels file (with --images).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
@click.option("--figure",
              help="Also draw the confusion matrix and the worst misclassified images, in the "
                   "format the name says: .png, .svg, .pdf (or .jpg, .gif, .bmp, .tif, .webp).")
@click.option("--force", is_flag=True, help="Replace the --figure file if it exists.")
def evaluate(target: str, split: str, data_dir: str | None, images: str | None,
             labels: str | None, as_json: bool, figure: str | None, force: bool) -> None:
    """Accuracy, loss, per-class precision/recall and the confusion matrix of a trained network.

    CHECKPOINT_OR_RUN is a .npz checkpoint or a run directory (its best.npz is used).

    \b
    Example:
      nnctl evaluate runs/default --json
      nnctl evaluate runs/default --figure figures/confusion.png
      nnctl evaluate runs/default --figure figures/confusion.pdf
    """
    from nnctl.api import evaluate as evaluate_trained
    from nnctl.cli.text import evaluation_tables, print_tables
    from nnctl.io.records import dumps

    result = evaluate_trained(target, split, data_dir=data_dir, images=images, labels=labels,
                              figure=figure, force=force)
    if as_json:
        click.echo(dumps(result))
    else:
        print_tables(evaluation_tables(result))

"""`nnctl predict`: classify your own digit images."""

from __future__ import annotations

from pathlib import Path

import click

from nnctl.terminal import shown


@click.command("predict")
@click.argument("target", metavar="CHECKPOINT_OR_RUN", type=click.Path())
@click.argument("inputs", metavar="IMAGE_OR_DIR...", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout.")
@click.option("--save-preprocessed", metavar="DIR",
              help="Write what the network saw, one PNG per image (photo.jpg -> photo.png), "
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
    from nnctl.io.path_kinds import CHECKPOINT, IMAGE, RUN, expect
    from nnctl.io.records import dumps
    from nnctl.tasks.predict import CONTACT_SHEET, expand_inputs, predict, skipped_note

    expect(target, (RUN, CHECKPOINT), "predict")
    for given in inputs:
        expect(given, (IMAGE,), "predict-input")
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

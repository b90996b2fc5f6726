"""`nnctl gradcheck`: backprop's gradients against finite differences."""

from __future__ import annotations

import click

from nnctl.terminal import shown


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path())
@click.option("--examples", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Training examples to check the gradients on, one at a time.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key.")
def gradcheck(config_path: str, examples: int, overrides: tuple[str, ...]) -> None:
    """Check the rule's gradients for CONFIG's network against central finite differences.

    Prints the largest relative error per layer (float64); exits 1 above the tolerance.

    \b
    Example:
      nnctl gradcheck configs/mlp-300.yaml --examples 5
    """
    from nnctl.cli.text import gradcheck_table, print_tables
    from nnctl.io.config import load_config
    from nnctl.io.path_kinds import CONFIG, expect
    from nnctl.tasks.gradcheck import check, verdict

    expect(config_path, (CONFIG,), "gradcheck")
    config = load_config(config_path, overrides)
    results, note = check(config, examples)
    if note:
        click.echo(shown(f"note: {note}"), err=True)
    print_tables([gradcheck_table(results, examples, config.training.rule)])
    click.echo(verdict(results, config.training.rule))

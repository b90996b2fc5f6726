"""`nnctl serve`: a local page to draw digits on, and its API."""

from __future__ import annotations

import click

from nnctl.terminal import shown


@click.command("serve")
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
    from nnctl.io.path_kinds import CHECKPOINT, RUN, expect
    from nnctl.serve.app import is_loopback, serve, url_of

    expect(target, (RUN, CHECKPOINT), "serve")

    if not is_loopback(host):
        click.echo(shown(f"warning: --host {host} is not loopback: any machine that reaches it "
                         "can use this server (no password)"), err=True)

    def ready(server) -> None:
        summary = server.model.summary
        click.echo(shown(f"serving {summary['run']} ({summary['network']}) at {url_of(server)} "
                         "- open it in a browser; Ctrl-C stops"))

    serve(target, host, port, on_ready=ready)

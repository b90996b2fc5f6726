"""The command line: parse, validate, call the library, print. No training logic lives here.

This module is the root group `nnctl` and `main`; each command or group is a module of this
package (train.py, data.py, ...), loaded when it is used; text.py is what the terminal shows.

Exit statuses: 0 success; 1 data, checkpoint or output-directory error; 2 usage or config error;
3 training diverged; 130 / 143 interrupted by SIGINT / SIGTERM (after saving a checkpoint).
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Callable

import click

from nnctl.errors import SIGNAL_EXIT, Interrupted, NnctlError, OutputError
from nnctl.terminal import guard_stdout, shown, silence_stdout
from nnctl.version import __version__

# Every command by its name, and where it is: `module:name`, a module per command or group. A
# module is imported only when its command runs or --help lists it, and imports the library only
# when the command runs: `nnctl --help` loads no numpy, numba, matplotlib or Ray.
COMMANDS = {
    "data": "nnctl.cli.data:data",
    "evaluate": "nnctl.cli.evaluate:evaluate",
    "gradcheck": "nnctl.cli.gradcheck:gradcheck",
    "inspect-weights": "nnctl.cli.inspect_weights:inspect_weights",
    "plot": "nnctl.cli.plot:plot",
    "predict": "nnctl.cli.predict:predict_command",
    "report": "nnctl.cli.report:report",
    "runs": "nnctl.cli.runs:runs_command",
    "serve": "nnctl.cli.serve:serve_command",
    "sweep": "nnctl.cli.sweep:sweep",
    "tour": "nnctl.cli.tour:tour",
    "train": "nnctl.cli.train:train",
}


class NnctlGroup(click.Group):
    """The root group: loads each command from its module when it is asked for (COMMANDS, Click's
    lazy group) and turns the project's errors into one-line `Error: ...` messages with their
    exit status; everything they print has its control characters escaped (terminal.shown: a
    message names paths, and a directory's name may hold an escape sequence)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(module), name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """Click's, with the commands not loaded yet among those an unknown name is compared
        with (`Did you mean 'train'?`)."""
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as e:
            raise click.exceptions.NoSuchCommand(
                e.command_name, possibilities=self.list_commands(ctx), ctx=ctx) from None

    def invoke(self, ctx: click.Context):
        """The command, its errors turned into one line. With `main(signals=(start, end))`
        (the entry point's), `start` hands SIGINT / SIGTERM to the command here, once the command
        line is parsed, and `end` stops listening for them once it is over: a signal before is
        the entry point's quiet stop (nothing done), one after cannot change its exit status."""
        start, end = (ctx.obj or {}).get("signals") or (None, None)
        received: list[int] = []
        restore_hook = None
        try:
            if start:
                # numpy is loaded while the entry point's quiet handler is still in: numpy's
                # compiled modules, interrupted while they import, print the KeyboardInterrupt's
                # traceback themselves (and raise an ImportError), which no handler can undo.
                import numpy  # noqa: F401

                start()
                _remember_sigint(received)
                restore_hook = _redeliver_lost_interrupts()
            return super().invoke(ctx)
        except (Exception, KeyboardInterrupt) as raised:
            e = _reason(raised)
            if received and not isinstance(e, (NnctlError, KeyboardInterrupt)):
                e = KeyboardInterrupt()  # the error came of the signal (see _remember_sigint)
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
        finally:
            if restore_hook:
                restore_hook()
            if end:
                end()


def _remember_sigint(received: list[int]) -> None:
    """Keep Python's SIGINT handler (KeyboardInterrupt), noting in `received` that it ran. A
    KeyboardInterrupt in the middle of an import can come out as another error with no trace of
    it: numpy's compiled modules print it and raise `ImportError: numpy._core.multiarray failed
    to import`. An error after a SIGINT is then taken for the interrupt it came of."""
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        return

    def interrupt(signum, frame):
        received.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, interrupt)


REDELIVER_SECONDS = 0.01  # after which a lost SIGINT is raised again: the callback is over


def _redeliver_lost_interrupts() -> Callable[[], None]:
    """Until the returned function is called, a KeyboardInterrupt that Python could not raise
    (the SIGINT handler ran inside a callback, such as the import system's weakref callbacks,
    whose exceptions Python prints as "Exception ignored in ..." and drops) is not printed but
    delivered again: SIGINT is raised once more REDELIVER_SECONDS later, from another thread, so
    that its handler runs outside the callback (and outside this hook, where it would be dropped
    again). Else the Ctrl-C would be lost and the command would go on to its end."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            again = threading.Timer(REDELIVER_SECONDS, signal.raise_signal, (signal.SIGINT,))
            again.daemon = True
            again.start()
            return
        previous(unraisable)

    sys.unraisablehook = hook
    return lambda: setattr(sys, "unraisablehook", previous)


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
    ctx.ensure_object(dict)["debug"] = debug


def main(signals: tuple[Callable[[], None], Callable[[], None]] | None = None) -> int:
    """The `nnctl` command: run it, then flush standard output; returns the exit status.
    `signals`: what to call as the command starts and once it has ended (NnctlGroup.invoke).

    Standard output that cannot be written (closed, a full disk) is one line `Error: cannot
    write to standard output: REASON` and exit 1, for every command, also when the failure only
    shows at the last flush; a reader that went away (`| head`) ends it quietly, as click does.
    """
    stdout = guard_stdout()
    try:
        cli.main(prog_name="nnctl", obj={"signals": signals})
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

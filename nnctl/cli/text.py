"""What the terminal shows: training's summary, epoch lines and result (the bar's figures:
tasks/progress_bar.py); the evaluation, gradcheck, dataset and runs tables."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nnctl.core.schedules import learning_rate
from nnctl.engine import engine_name
from nnctl.tasks.progress_bar import duration, rate, seconds_left
from nnctl.terminal import phrase_lines, plural, shown

if TYPE_CHECKING:
    from nnctl.io.config import TrainingConfig
    from nnctl.tasks.run_state import Run, TrainResult


def number(value: float | None, spec: str) -> str:
    """A metric for people: `value` formatted by `spec`; n/a when a run file holds null (a NaN
    or an infinity, written as null so that the JSON stays valid)."""
    return "n/a" if value is None else format(value, spec)


def epoch_line(record: dict, run: Run) -> str:
    """One line per epoch, 80 columns for typical figures; `*` marks a better validation accuracy
    (the weights best.npz keeps):
    `epoch  2/10  loss 0.0928 acc 97.13%  val 0.0772 97.78% *  lr 0.0833  left ~25s`."""
    epochs = run.config.training.epochs
    line = (f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}  "
            f"loss {number(record['train_loss'], '.4f'):>6} "
            f"acc {_percent6(record['train_accuracy'])}")
    if "val_accuracy" in record:
        best = "*" if run.progress.best_epoch == record["epoch"] else " "
        line += (f"  val {number(record['val_loss'], '.4f'):>6} "
                 f"{_percent6(record['val_accuracy'])} {best}")
    line += f"  lr {record['learning_rate']:<6.3g}"
    epochs_left = epochs - record["epoch"]
    if epochs_left > 0:
        left = seconds_left([r["seconds"] for r in run.history], epochs_left)
        line += f"  left {duration(left)}"
    return line.rstrip()


def _percent6(value: float | None) -> str:
    """An accuracy in six characters, so that the epoch lines' columns stay put: 97.13%, and
    100.0% for a perfect one (n/a right-aligned)."""
    if value is not None and value >= 0.99995:
        return format(value, ".1%")
    return f"{number(value, '.2%'):>6}"


COMPILE_NOTICE = "compiling the fast engine, first run only (~10 s)"


def run_summary(run: Run) -> list[str]:
    """What is about to run, before the first epoch (and the compile notice when due)."""
    config, tc, network, splits = run.config, run.config.training, run.network, run.splits
    parameters = sum(W.size + b.size for W, b in zip(network.weights, network.biases))
    hidden = f"{config.model.activation} hidden, " if len(network.sizes) > 2 else ""
    validation = 0 if splits.validation is None else len(splits.validation)
    order = "shuffled each epoch" if tc.shuffle else "in file order"
    rows = {
        "network": f"{'-'.join(map(str, network.sizes))} ({parameters:,} parameters), {hidden}"
                   f"{config.model.output} output",
        "rule": f"{tc.rule} on {tc.loss} loss, seed {tc.seed}, {order}",
        "data": f"{len(splits.train):,} train, {validation:,} validation, "
                f"{len(run.test_pixels[1]):,} test examples",
        "epochs": _summary_epochs(tc),
        "lr": _summary_lr(tc),
        "engine": f"{engine_name(tc.engine)}, {tc.dtype}",
    }
    if tc.average:
        rows["average"] = (f"beta {tc.average:g}: the moving average of the epochs' weights is "
                           "validated, saved and tested")
    lines = [f"nnctl: {_summary_start(run)}", *(f"{key:>9} {value}" for key, value in rows.items())]
    if validation:
        lines.append(
            f"{'*':>9} marks a better validation accuracy: its weights are kept (best.npz)"
        )
    if engine_name(tc.engine) == "fused":
        from nnctl.engine import fused  # numba is loaded only for the fused engine

        if not fused.is_compiled():
            lines.append(COMPILE_NOTICE)
    return lines


def _summary_start(run: Run) -> str:
    """`training into DIR`, or where a resumed run goes on."""
    progress, epochs = run.progress, run.config.training.epochs
    if progress.position:
        return (f"continuing {shown(run.run_dir)} in epoch {progress.epoch + 1} of {epochs}, after "
                f"example {progress.position:,} of {len(run.splits.train):,}")
    if progress.epoch:
        return f"continuing {shown(run.run_dir)} after epoch {progress.epoch} of {epochs}"
    return f"training into {shown(run.run_dir)}"


def _summary_epochs(tc: TrainingConfig) -> str:
    stop = tc.stop
    early = [text for on, text in (
        (stop.patience, f"after {stop.patience} epochs without a better val acc"),
        (stop.tolerance, f"when |dJ|/J < {stop.tolerance:g}" if stop.tolerance else ""),
        (stop.no_mistakes, "after an epoch without training mistakes"),
    ) if on]
    return f"{tc.epochs}" + (f" (stop early {' or '.join(early)})" if early else "")


def _summary_lr(tc: TrainingConfig) -> str:
    first = tc.learning_rate
    last = learning_rate(tc.schedule, first, tc.decay, max(tc.epochs, 1))
    if last == first:
        return f"{first:g} (constant)"
    return (f"{first:g} to {last:.3g} in epoch {tc.epochs} "
            f"({tc.schedule} schedule, decay {tc.decay:g})")


def result_lines(result: TrainResult) -> list[str]:
    """What `train` prints on stdout at the end: time, the kept epoch and its test accuracy."""
    lines = []
    if result.already_complete:
        lines.append(f"{shown(result.run_dir)}: the run is complete ({result.stop_reason}); "
                     "nothing to do (resume with --set training.epochs=N to train on)")
    elif result.history:
        seconds = sum(r["seconds"] for r in result.history)
        examples = sum(r["seconds"] * r["examples_per_second"] for r in result.history)
        kept = next((r for r in result.history if r["epoch"] == result.best_epoch), {})
        best = (f"; best val acc {number(kept['val_accuracy'], '.2%')} in epoch {kept['epoch']}"
                if "val_accuracy" in kept else "")
        lines.append(f"{plural(len(result.history), 'epoch')} in {seconds:.1f} s "
                     f"({rate(examples / max(seconds, 1e-9))} ex/s){best}")
    accuracy = result.test["accuracy"]
    weights = ("the average of the epochs' weights at epoch"
               if result.averaged and result.best_epoch else "the weights of epoch")
    tested = (f"test accuracy {accuracy:.2%} (error {1 - accuracy:.2%}) with {weights} "
              f"{result.best_epoch} -> {shown(result.run_dir)}")
    return [*lines, f"stopped: {result.stop_reason}", tested]


def keys_text(keys: list[dict]) -> str:
    """`train --keys`: every config key (config.describe_keys), its type and default, then what it
    means on an indented line."""
    lines = ["Config keys, set in the YAML file or with --set KEY=VALUE:"]
    for key in keys:
        lines.append(f"{key['key']} ({key['type']}, default {key['default']})")
        lines += textwrap.wrap(key["help"], 76, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines)


def evaluation_tables(result: dict) -> list[Table]:
    """The summary, per-class and confusion tables; file names are shown with their control
    characters escaped and never read as rich markup (a directory may be called `[/tmp]`)."""
    summary = Table(title=f"{result['split']}: {result['examples']} examples "
                          f"({escape(shown(result['checkpoint']))})")
    for name in ("accuracy", "error rate", "mean loss"):
        summary.add_column(name, justify="right")
    summary.add_row(number(result["accuracy"], ".2%"), number(result["error_rate"], ".2%"),
                    number(result["loss"], ".4f"))

    per_class = Table(title="per class")
    for name in ("class", "support", "precision", "recall"):
        per_class.add_column(name, justify="right")
    for row in result["per_class"]:
        per_class.add_row(
            str(row["class"]), str(row["support"]),
            "-" if row["precision"] is None else f"{row['precision']:.2%}",
            "-" if row["recall"] is None else f"{row['recall']:.2%}",
        )

    confusion = Table(title="confusion matrix (rows: true class, columns: predicted)")
    classes = len(result["confusion_matrix"])
    confusion.add_column("", justify="right", style="bold")
    for k in range(classes):
        confusion.add_column(str(k), justify="right")
    for k, row in enumerate(result["confusion_matrix"]):
        cells = [f"[bold]{v}[/bold]" if j == k else (str(v) if v else "[dim]0[/dim]")
                 for j, v in enumerate(row)]
        confusion.add_row(str(k), *cells)
    return [summary, per_class, confusion]


def print_tables(tables: list[Table], console: Console | None = None) -> None:
    """Print rich tables (to stdout by default). Their cells are rich markup, so a name in them
    goes through escape(shown(...)); emoji codes are left as typed (`:cat:` in a run's name)."""
    console = console or Console(emoji=False, highlight=False)
    for table in tables:
        console.print(table)


def rule_name(rule: str) -> str:
    """`backprop`, `the perceptron rule`, `the delta rule`: what a title calls training.rule."""
    return rule if rule == "backprop" else f"the {rule} rule"


def gradcheck_table(results, examples: int, rule: str = "backprop") -> Table:
    """gradcheck's table: per array, the rule's step against central differences."""
    table = Table(title=f"gradients on {plural(examples, 'training example')}: {rule_name(rule)} "
                        "against central differences")
    for name in ("array", "shape", "checked", "max |gradient|", "relative error"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in results:
        error = f"{r.error:.2e}" if r.ok else f"[bold red]{r.error:.2e}[/bold red]"
        table.add_row(r.name, "x".join(map(str, r.shape)), str(r.checked),
                      f"{r.largest_gradient:.3e}", error)
    return table


def dataset_tables(result: dict) -> list[Table]:
    shape = "x".join(map(str, result["image_shape"]))
    summary = Table(title=f"{escape(shown(result['directory']))}: {result['classes']} classes, "
                          f"images {shape} {result['pixel_dtype']}")
    for name in ("split", "examples", "pixel min", "pixel max", "pixel mean", "labels"):
        summary.add_column(name, justify="right")
    for split, s in result["splits"].items():
        summary.add_row(split, f"{s['count']:,}", str(s["pixel_min"]), str(s["pixel_max"]),
                        f"{s['pixel_mean']:.2f}", f"{s['label_min']}..{s['label_max']}")
    balance = Table(title="examples per class")
    balance.add_column("class", justify="right")
    for split in result["splits"]:
        balance.add_column(split, justify="right")
    for k in range(result["classes"]):
        balance.add_row(str(k), *(f"{s['class_counts'][k]:,}" for s in result["splits"].values()))
    return [summary, balance]


def verify_table(report: list[dict]) -> Table:
    table = Table(title="verify")
    for name in ("file", "ok", "message"):
        table.add_column(name)
    for r in report:
        table.add_row(escape(shown(str(r["file"]).rsplit("/", 1)[-1])),
                      "[green]yes[/green]" if r["ok"] else "[red]no[/red]",
                      escape(shown(r["message"])))
    return table


RUNS_CAPTION = ("val: best validation accuracy (its epoch); test: that checkpoint's; epochs: "
                "done/training.epochs")
NARROWEST_RUN = 12  # a run column narrower than this folds names too much: columns go first
NARROWEST_KEYS = 20  # the differs column beside the names, at least (or its longest key=value)


def runs_table(rows: list[dict], keys: list[str], width: int = 80) -> Table:
    """`nnctl runs`: one row per run (RunInfo.as_dict). What the runs share goes in the title,
    what differs in the columns: network and rule if they differ (the rule, already a key of
    `differs`, only when it is not), and the config keys that differ as `key=value`, wrapped
    between keys. Within `width` columns the keys and the figures are never cut: a long run
    name folds, then the time column goes, then the keys move under the run's name, then the
    test column goes (`--json` has them all)."""
    import os.path

    from rich import box

    parent = (os.path.commonpath([os.path.dirname(row["run"]) or "." for row in rows])
              if rows else "")
    shared = [f"{name} {rows[0][name]}" for name in ("network", "rule")
              if rows and len({row[name] for row in rows}) == 1]
    hidden_by = {"network": "model.hidden", "rule": "training.rule"}  # the key says it
    varying = [name for name in ("network", "rule") if not any(name in s for s in shared)
               and hidden_by[name] not in keys]
    keys = [key for key in keys if key != "training.epochs"]  # shown as done/max in "epochs"
    names = [shown(os.path.relpath(row["run"], parent)) for row in rows]
    differs = [_differs(row, keys) for row in rows]
    figures = {name: [cell(row) for row in rows] for name, cell in _RUN_FIGURES.items()}
    fixed = {"status": [row["status"] for row in rows],
             **{name: [shown(row[name]) for row in rows] for name in varying}, **figures}
    layout = _runs_layout(names, differs, fixed, width)
    head = [f"{plural(len(rows), 'run')} in {parent}/" + (":" if shared else ""),
            *(phrase + ("," if i < len(shared) - 1 else "") for i, phrase in enumerate(shared))]
    title = phrase_lines([shown(phrase) for phrase in head], width)  # names escaped first
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  title=escape(title), title_justify="left",
                  min_width=min(width, max(map(len, title.splitlines()))),
                  caption=RUNS_CAPTION + layout.note, caption_justify="left")
    table.add_column("run (differs)" if layout.differs_under else "run", overflow="fold",
                     width=layout.run)
    columns = [name for name in fixed if name not in layout.dropped]
    for name in columns[:1 + len(varying)]:  # status, network, rule
        table.add_column(name, no_wrap=True, justify="left" if name == "status" else "right")
    if layout.differs:
        table.add_column("differs", overflow="fold", width=layout.differs)
    for name in columns[1 + len(varying):]:
        table.add_column(name, justify="right", no_wrap=True)
    damaged = any(row.get("problem") for row in rows)
    if damaged:
        table.add_column("problem", overflow="fold", ratio=1)
    for i, (name, row) in enumerate(zip(names, rows)):
        first = escape(name) + (f"\n{escape(shown(differs[i]))}" if layout.differs_under
                                and differs[i] else "")
        cells = [escape(fixed[column][i]) for column in columns]
        table.add_row(
            first, *cells[:1 + len(varying)],
            *([escape(shown(differs[i]))] if layout.differs else []),
            *cells[1 + len(varying):],
            *([escape((row.get("problem") or "").replace(row["run"] + os.sep, ""))]
              if damaged else []),
        )
    return table


def _differs(row: dict, keys: list[str]) -> str:
    from nnctl.io.run_info import short_key, value_text

    return " ".join(f"{short_key(key)}={value_text(row[key])}" for key in keys)


_RUN_FIGURES = {
    "epochs": lambda row: _epochs(row),
    "val": lambda row: _percent(row["best_val_accuracy"])
    + (f" ({row['best_epoch']})" if row["best_epoch"] else ""),
    "test": lambda row: _percent(row["test_accuracy"]),
    "time": lambda row: "-" if row["seconds"] is None else f"{row['seconds']:.0f} s",
}


@dataclass
class _RunsLayout:
    run: int  # the run column's width
    differs: int  # the differs column's width; 0: no such column
    differs_under: bool = False  # the keys go under the run's name instead
    dropped: tuple[str, ...] = ()
    note: str = ""  # said in the caption


def _runs_layout(names: list[str], differs: list[str], fixed: dict[str, list[str]],
                 width: int) -> _RunsLayout:
    """The widths of `runs_table`'s columns within `width` (each column takes its width plus
    two), its figures never cut: see runs_table for what gives way, in order."""
    natural = {name: max(map(cell_len, [name, *cells])) for name, cells in fixed.items()}
    run_natural = max(map(cell_len, ["run", *names]))
    words = [word for line in differs for word in line.split()]
    keys_natural = max(map(cell_len, ["differs", *differs])) if words else 0
    keys_least = max([NARROWEST_KEYS, *map(cell_len, words)]) if words else 0
    attempts = (((), False), (("time",), False), (("time",), True), (("time", "test"), True))
    for dropped, under in attempts:
        room = width - 2 - sum(natural[name] + 2 for name in natural if name not in dropped)
        note = f"; {', '.join(dropped)}: see --json" if dropped else ""
        if under:  # the keys on lines of their own under the run's name
            run = min(max(run_natural, keys_natural), room)
            if run >= max([NARROWEST_RUN, *map(cell_len, words)]) or dropped == attempts[-1][0]:
                return _RunsLayout(max(run, NARROWEST_RUN), 0, bool(words), dropped, note)
            continue
        room -= 2 if words else 0  # the differs column's own two
        if words and room - run_natural >= min(keys_natural, keys_least):
            return _RunsLayout(run_natural, min(keys_natural, room - run_natural), False,
                               dropped, note)
        if not words and room >= min(run_natural, NARROWEST_RUN):
            return _RunsLayout(min(run_natural, room), 0, False, dropped, note)
    raise AssertionError("the last attempt always returns")


def _epochs(row: dict) -> str:
    """Epochs done, and of how many when the run stopped early or is not done."""
    most = row.get("training.epochs")
    return str(row["epochs"]) if most in (None, row["epochs"]) else f"{row['epochs']}/{most}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"

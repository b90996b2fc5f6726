"""Rich tables for the terminal: the training summary and the evaluation report."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def number(value: float | None, spec: str) -> str:
    """A metric for people: `value` formatted by `spec`; n/a when a run file holds null (a NaN
    or an infinity, written as null so that the JSON stays valid)."""
    return "n/a" if value is None else format(value, spec)


def epoch_line(record: dict, epochs: int) -> str:
    val = (f"  val loss {number(record['val_loss'], '.4f')}  "
           f"val acc {number(record['val_accuracy'], '.2%')}" if "val_accuracy" in record else "")
    return (
        f"epoch {record['epoch']}/{epochs}  loss {number(record['train_loss'], '.4f')}  "
        f"acc {number(record['train_accuracy'], '.2%')}{val}  "
        f"eta {number(record['learning_rate'], '.4g')}  {number(record['seconds'], '.1f')} s "
        f"({number(record['examples_per_second'], ',.0f')} ex/s)"
    )


def training_table(history: list[dict]) -> Table:
    table = Table(title="training")
    for name in ("epoch", "train loss", "train acc", "val loss", "val acc", "seconds"):
        table.add_column(name, justify="right")
    for r in history:
        table.add_row(
            str(r["epoch"]), number(r["train_loss"], ".4f"), number(r["train_accuracy"], ".2%"),
            number(r["val_loss"], ".4f") if "val_loss" in r else "-",
            number(r["val_accuracy"], ".2%") if "val_accuracy" in r else "-",
            number(r["seconds"], ".1f"),
        )
    return table


def evaluation_tables(result: dict) -> list[Table]:
    """The summary, per-class and confusion tables; file names are shown as they are (never read
    as rich markup: a directory may be called `[/tmp]`)."""
    summary = Table(title=f"{result['split']}: {result['examples']} examples "
                          f"({escape(str(result['checkpoint']))})")
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
    console = console or Console()
    for table in tables:
        console.print(table)


def gradcheck_table(results, examples: int) -> Table:
    table = Table(title=f"gradients on {examples} training examples: backprop against central "
                        "differences")
    for name in ("array", "shape", "checked", "max |gradient|", "relative error"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in results:
        error = f"{r.error:.2e}" if r.ok else f"[bold red]{r.error:.2e}[/bold red]"
        table.add_row(r.name, "x".join(map(str, r.shape)), str(r.checked),
                      f"{r.largest_gradient:.3e}", error)
    return table


def dataset_tables(result: dict) -> list[Table]:
    shape = "x".join(map(str, result["image_shape"]))
    summary = Table(title=f"{escape(str(result['directory']))}: {result['classes']} classes, "
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
        table.add_row(escape(str(r["file"]).rsplit("/", 1)[-1]),
                      "[green]yes[/green]" if r["ok"] else "[red]no[/red]", escape(r["message"]))
    return table


def runs_table(rows: list[dict], keys: list[str]) -> Table:
    """`nnctl runs`: one row per run (RunInfo.as_dict). What the runs share goes in the title,
    what differs in the columns: network and rule if they differ, and the config keys that
    differ as `key=value` in one column that wraps (so that any number of them fits)."""
    import os.path

    from rich import box

    from nnctl.runs import short_key, value_text

    parent = os.path.commonpath([os.path.dirname(row["run"]) or "." for row in rows]) if rows else ""
    shared = [f"{name} {rows[0][name]}" for name in ("network", "rule")
              if rows and len({row[name] for row in rows}) == 1]
    varying = [name for name in ("network", "rule") if not any(name in s for s in shared)
               and not (name == "network" and "model.hidden" in keys)]  # hidden= says it
    title = f"{len(rows)} runs in {parent}/" + (f": {', '.join(shared)}" if shared else "")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  title=escape(title), title_justify="left",
                  caption="val: best validation accuracy (its epoch); test: that checkpoint's; "
                          "epochs: done/training.epochs", caption_justify="left")
    keys = [key for key in keys if key != "training.epochs"]  # shown as done/max in "epochs"
    names = [os.path.relpath(row["run"], parent) for row in rows]
    table.add_column("run", no_wrap=True, min_width=min(32, max(map(len, names), default=3)))
    table.add_column("status", no_wrap=True)
    for name in varying:
        table.add_column(name, justify="right", no_wrap=True)
    if keys:
        table.add_column("differs", overflow="fold", ratio=1, min_width=24)
    for name in ("epochs", "val", "test", "time"):
        table.add_column(name, justify="right", no_wrap=True)
    for name, row in zip(names, rows):
        best = row["best_epoch"]
        differs = " ".join(f"{short_key(key)}={value_text(row[key])}" for key in keys)
        table.add_row(
            escape(name), row["status"], *(escape(str(row[v])) for v in varying),
            *([escape(differs)] if keys else []),
            _epochs(row),
            _percent(row["best_val_accuracy"]) + (f" ({best})" if best else ""),
            _percent(row["test_accuracy"]),
            "-" if row["seconds"] is None else f"{row['seconds']:.0f} s",
        )
    return table


def _epochs(row: dict) -> str:
    """Epochs done, and of how many when the run stopped early or is not done."""
    most = row.get("training.epochs")
    return str(row["epochs"]) if most in (None, row["epochs"]) else f"{row['epochs']}/{most}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"

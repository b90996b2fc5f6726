"""The JSON and CSV text nnctl writes (run files, `--json` output, sweep results): valid JSON
always, NaN and infinities as null, floats to 6 significant digits for people and scripts."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any


def finite_json(value: Any, digits: int | None = None) -> Any:
    """`value` with NaN and infinities as null (and floats rounded to `digits` significant
    digits if given), so that the JSON nnctl writes is valid JSON: never a bare NaN."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}") if digits else value
    if isinstance(value, dict):
        return {key: finite_json(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item, digits) for item in value]
    return value


def dumps(value: Any, digits: int | None = 6, **kwargs: Any) -> str:
    """JSON for people and scripts: floats to 6 significant digits (`digits=None`: exact, as
    the run files keep them), NaN and infinities as null."""
    return json.dumps(finite_json(value, digits), allow_nan=False, **kwargs)


def csv_text(rows: list[dict]) -> str:
    """Rows of one shape as CSV with a header (lists and dicts as JSON, NaN as empty)."""
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: json.dumps(value) if isinstance(value, (list, dict)) else value
                         for key, value in finite_json(row).items()})
    return buffer.getvalue()

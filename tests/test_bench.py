"""benchmarks/bench.py --quick runs every part of `make bench` and writes the same report.

The peers (PyTorch, scikit-learn) are optional: without them the report lists them as skipped,
so these tests need neither. A quick run takes seconds; its numbers are not measurements.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("## Seconds per epoch", "## Where the fused engine's time goes",
            "## Peak memory of `nnctl train`", "## End to end: `nnctl train` of 784-300-10",
            "## Distortions and dropout: seconds per epoch of `nnctl train`", "## Targets")


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/bench.py", "--quick", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_quick_run_has_every_section(tmp_path):
    out = tmp_path / "bench.md"
    result = bench("--profile", "--memory", "--end-to-end", "--inputs", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = out.read_text()
    assert report == result.stdout
    positions = [report.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert "| 784-100-10 | fused | " in report and "| 784-100-10 | reference | " in report
    assert "| fused | 1 of 1 | " in report  # the end-to-end row, from the run's summary.json
    assert "quick run (--quick)" in report
    assert "| elastic + affine distortions: `data.augment.elastic.sigma=4`" in report
    for peer, module in (("torch", "torch"), ("sklearn", "sklearn")):
        if importlib.util.find_spec(module) is None:
            assert f"- {peer}: skipped, not installed" in report
        else:
            assert f"| 784-100-10 | {peer} | " in report


def test_profile_is_off_by_default():
    result = bench("--tools", "fused")
    assert result.returncode == 0, result.stderr
    assert "## Seconds per epoch" in result.stdout
    assert "Where the fused engine's time goes" not in result.stdout


def test_unknown_tool_is_a_usage_error():
    result = bench("--tools", "fused,keras")
    assert result.returncode == 2
    assert "unknown tool(s) keras" in result.stderr

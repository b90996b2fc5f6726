"""`nnctl report`'s page (nnctl/tasks/report.py, report_sweep.py): its sections, every
misclassified test digit (counted against `nnctl evaluate --json`'s confusion matrix), nothing from
outside the page, names escaped, a run still training, a sweep directory."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from collections import Counter

import pytest
from conftest import QUICK
from PIL import Image

from nnctl.io.config import config_from_dict
from nnctl.io.run_dir import lock_run
from nnctl.tasks.report import write_report
from nnctl.tasks.train import train

pytestmark = pytest.mark.slow  # trains runs and draws every figure: seconds

NAME = 'r<script>alert(1)&"'


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A single layer trained 2 epochs on 1,500 digits, in a directory named with HTML in it."""
    config = config_from_dict({**QUICK, "training": {"epochs": 2}}, "report")
    out = tmp_path_factory.mktemp("report") / NAME
    train(config, out)
    return out


@pytest.fixture(scope="module")
def page(trained):
    return write_report(trained).read_text()


def mistakes(html: str) -> list[tuple[int, int]]:
    return [(int(t), int(p)) for t, p in re.findall(
        r'<figure class="mistake" data-true="(\d)" data-predicted="(\d)">', html)]


def test_the_page_has_every_section_beside_the_run(trained, page):
    assert (trained.parent / f"{NAME}-report.html").is_file()
    for anchor in ("config", "summary", "curves", "weights", "confusion", "mistakes-section"):
        assert f'id="{anchor}"' in page
    assert "finished (2 of 2 epochs)" in page
    assert "Templates: the weights of the output unit" not in page  # drawn, not as text
    assert re.search(r'<tr class="differs"><td>training.epochs</td><td>2</td><td>10</td>', page)
    assert re.search(r'<tr class=""><td>training.rule</td><td>backprop</td>', page)
    assert "<th>test_accuracy</th>" in page and "Not shown" not in page
    assert page.count('<figure><img src="data:image/png;base64,') == 3  # curves, weights x2


def test_every_misclassified_digit_is_on_the_page(trained, page, run):
    evaluated = json.loads(run("evaluate", trained, "--json").stdout)
    confusion = evaluated["confusion_matrix"]
    expected = Counter({(i, j): n for i, row in enumerate(confusion) for j, n in enumerate(row)
                        if i != j and n})
    found = mistakes(page)
    assert Counter(found) == expected and len(found) > 100
    assert found == sorted(found)
    assert f"Every misclassified digit ({len(found)})" in page
    uris = re.findall(r'<figure class="mistake"[^>]*><img src="data:image/png;base64,([^"]+)"',
                      page)
    assert len(uris) == len(found)
    for uri in uris[:: max(1, len(uris) // 20)]:
        with Image.open(io.BytesIO(base64.b64decode(uri))) as digit:
            assert digit.format == "PNG" and digit.size == (28, 28)
            assert digit.getextrema()[0] < 100  # some ink


def test_nothing_comes_from_outside_the_page(page):
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:|//)", page, re.IGNORECASE)
    assert not re.search(r"<script[^>]*\bsrc", page, re.IGNORECASE)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert set(re.findall(r'src="([^"]{0,22})', page)) == {"data:image/png;base64,"}
    assert page.count("<script>") == 1  # the page's own filter


def test_names_are_escaped(page):
    assert "<script>alert(1)" not in page
    assert "r&lt;script&gt;alert(1)&amp;&#34;" in page


def test_a_run_still_training_shows_its_epochs_so_far(trained, tmp_path):
    copy = tmp_path / "training"
    shutil.copytree(trained, copy)
    (copy / "summary.json").unlink()
    with lock_run(copy):  # as the training process holds it
        html = write_report(copy, tmp_path / "page.html").read_text()
    assert "running (epoch 2 of 2 done)" in html
    assert "still training" in html and "No summary yet" in html
    assert mistakes(html)  # best.npz evaluated already


def test_a_sweep_directory_shows_its_ranked_points_and_figures(trained, tmp_path):
    from nnctl.io.marked_dirs import SWEEP_MARKER
    from nnctl.sweep.results import PointResult, plot_results, write_results

    sweep_dir = tmp_path / "sweep"
    rates = {"p000": 0.1, "p001": 0.01}
    results = []
    for point, (name, lr) in enumerate(rates.items()):
        trials = []
        for seed in (0, 1):
            trial = f"{name}-s{seed}"
            shutil.copytree(trained, sweep_dir / "trials" / trial)
            trials.append({"id": trial, "seed": seed, "status": "finished", "epochs": 2,
                           "val_accuracy": 0.9 - 0.1 * point + 0.01 * seed, "seconds": 1.0})
        results.append(PointResult(point, f"lr={lr:g}", {"training.learning_rate": lr}, trials,
                                   0.905 - 0.1 * point, 0.007))
    sweep = type("Sweep", (), {"parameters": {"training.learning_rate": {"values": [0.1, 0.01]}},
                               "metric": "val_accuracy"})()
    (sweep_dir / SWEEP_MARKER).write_text("{}")  # as `nnctl sweep` marks its directory
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "metric": "val_accuracy", "parameters": sweep.parameters,
        "trials": [{"id": t["id"]} for r in results for t in r.trials]}))
    html = write_report(sweep_dir, tmp_path / "running.html").read_text()
    assert "no results yet: 4 of 4 trials done" in html and "No figures yet" in html
    write_results(sweep_dir, sweep, results)
    plot_results(sweep_dir, sweep, results)
    html = write_report(sweep_dir).read_text()
    rows = re.findall(r"<tr><td>(\d)</td><td>(\d)</td><td>([^<]+)</td><td>([^<]+)</td>", html)
    assert rows == [("1", "0", "0.1", "90.50% ± 0.70%"), ("2", "1", "0.01", "80.50% ± 0.70%")]
    assert "best point 0 (lr=0.1): test accuracy" in html
    assert "metric-vs-training.learning_rate.png: the metric against" in html
    assert "best-curves.png: the learning curves" in html
    assert html.count('<figure><img src="data:image/png;base64,') == 2

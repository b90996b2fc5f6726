"""nnctl tour: the quick tour once (every section, every claim's number checked against the files
and against an independent computation, every figure embedded and decodable, no external URL),
the page template's escaping, the output directory's refusals, signals and failed claims."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import shlex
import signal
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error, shared_dir, snapshot
from PIL import Image

import nnctl.tour
from nnctl.cli import cli
from nnctl.tour import logic
from nnctl.tour.outdir import PAGE, TOUR_MARKER, claim_tour_dir
from nnctl.tour.page import Claim, Figure, Quote, Section, render

pytestmark = [pytest.mark.slow]

SECTIONS = ["threshold-units", "perceptron", "delta-rule", "xor", "activations", "single-layer",
            "mlp", "backpropagation"]


class PageParser(HTMLParser):
    """The parts of the page the tests read: sections, images, quotes, commands, claims."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.images: list[dict] = []
        self.tags: set[str] = set()
        self.links: list[str] = []
        self._section = None
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self._in.append(tag)
        if tag == "section":
            self._section = self.sections.setdefault(
                attrs["id"], {"h2": "", "quotes": 0, "pre": "", "claims": [], "images": 0})
        elif tag == "img":
            self.images.append(attrs)
            self._in.pop()
            if self._section is not None:
                self._section["images"] += 1
        elif tag == "a":
            self.links.append(attrs.get("href", ""))
        elif tag == "blockquote" and self._section is not None:
            self._section["quotes"] += 1
        elif tag == "li" and self._section is not None and attrs.get("class") in ("holds",
                                                                                   "fails"):
            self._section["claims"].append(attrs["class"])

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._section is None or not self._in:
            return
        if self._in[-1] in ("h2", "pre"):
            self._section[self._in[-1]] += data


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    """The quick tour, run once per test session (`shared_dir`; read it, never change it):
    (directory, what it printed, the page parsed)."""
    def build(where: Path) -> None:
        result = CliRunner().invoke(cli, ["tour", "--out", str(where / "tour"), "--quick"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.stdout + result.stderr
        (where / "stdout.txt").write_text(result.stdout, encoding="utf-8")

    shared = shared_dir(tmp_path_factory, "tour", build)
    out = shared / "tour"
    printed = SimpleNamespace(stdout=(shared / "stdout.txt").read_text(encoding="utf-8"))
    parser = PageParser()
    parser.feed((out / PAGE).read_text(encoding="utf-8"))
    return out, printed, parser


def claim_lines(result, section: int) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"{section}. ")]


def number_after(text: str, words: str) -> float:
    match = re.search(re.escape(words) + r"\s*([-+0-9.,e]+)", text)
    assert match, (words, text)
    return float(match[1].replace(",", "").rstrip("."))


def test_every_section_is_on_the_page_with_its_words_run_claims_and_figures(tour):
    out, result, page = tour
    assert list(page.sections) == SECTIONS
    for key, section in page.sections.items():
        assert section["quotes"] >= 1 and section["claims"] and section["images"] >= 1, key
        assert section["pre"].strip(), key
    assert [link for link in page.links] == [f"#{key}" for key in SECTIONS]
    assert result.stdout.splitlines()[-1] == f"wrote {out / PAGE}"


def test_one_line_per_claim_and_every_claim_holds(tour):
    out, result, page = tour
    lines = [line for line in result.stdout.splitlines() if re.match(r"\d\. \[", line)]
    on_page = sum(len(s["claims"]) for s in page.sections.values())
    assert len(lines) == on_page >= 15
    assert all("[holds]" in line for line in lines), lines
    assert all(c == "holds" for s in page.sections.values() for c in s["claims"])
    assert f"{on_page} of {on_page} claims hold" in (out / PAGE).read_text(encoding="utf-8")


def test_every_image_is_an_embedded_png_that_decodes_and_is_saved_beside(tour):
    out, _, page = tour
    assert len(page.images) >= 12
    for image in page.images:
        head, _, data = image["src"].partition(",")
        assert head == "data:image/png;base64", head[:40]
        png = base64.b64decode(data, validate=True)
        picture = Image.open(io.BytesIO(png))
        picture.load()
        assert picture.format == "PNG" and min(picture.size) >= 200
        assert image["alt"]
    saved = {p.read_bytes() for p in (out / "figures").rglob("*.png")}
    assert all(base64.b64decode(i["src"].partition(",")[2]) in saved for i in page.images)


def test_the_page_needs_no_network_and_no_script(tour):
    out, _, page = tour
    html = (out / PAGE).read_text(encoding="utf-8")
    assert not re.search(r"https?://|//[a-z0-9-]+\.[a-z]", html, re.IGNORECASE)
    assert not {"script", "link", "iframe", "object", "embed"} & page.tags
    assert all(link.startswith("#") for link in page.links)


def test_threshold_units_compute_and_or_not(tour):
    _, result, _ = tour
    lines = claim_lines(result, 1)
    assert [line.split("computes ")[1].split(":")[0] for line in lines] == ["AND", "OR", "NOT"]
    assert all(re.search(r"(\d) of \1 rows", line) for line in lines)
    for name, want in (("AND", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1])):
        w, theta, _ = logic.LOGIC_UNITS[name]
        assert logic.threshold_unit(w, theta, logic.BOOLEAN_INPUTS).tolist() == want


def test_perceptron_settles_within_novikoffs_bound(tour):
    _, result, _ = tour
    settles, bound = claim_lines(result, 2)
    mistakes = json.loads(re.search(r"mistakes per epoch (\[[\d, ]+\])", settles)[1])
    assert mistakes[-1] == 0 and min(mistakes[:-1]) > 0
    updates = int(re.search(r"(\d+) updates ≤", bound)[1])
    assert updates == sum(mistakes)
    assert updates <= number_after(bound, "(R/γ)² =")
    # the bound recomputed here: the generating line's margin alone gives a valid (looser) one
    x, y, line = logic.separable_set(0)
    X = np.hstack([x, np.ones((len(x), 1))])
    gamma = (y * (X @ line / np.linalg.norm(line))).min()
    assert gamma > 0 and updates <= (np.linalg.norm(X, axis=1).max() / gamma) ** 2


def test_delta_rule_lands_on_the_least_squares_minimum_the_perceptron_never_settles(tour):
    _, result, _ = tour
    never, converges = claim_lines(result, 3)
    assert number_after(never, "fewest") > 0
    J = number_after(converges, "epochs")
    J_min = number_after(converges, "minimum")
    x, y = logic.overlapping_set(0)  # the minimum computed here, independently
    A = np.hstack([x, np.ones((len(x), 1))])
    residual = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    assert J_min == pytest.approx(0.5 * np.mean(residual**2), abs=1e-5)
    assert J_min - 1e-5 <= J <= 1.01 * J_min


def test_xor_single_layer_and_linear_layers_fail_hidden_sigmoids_solve(tour):
    _, result, _ = tour
    single, linear, hidden = claim_lines(result, 4)
    assert number_after(single, "fewest") >= 1
    assert number_after(linear, "at most") <= 3 and number_after(linear, "to") < 1e-9
    solved = re.search(r"(\d+) of (\d+) seeds get all 4 right", hidden)
    assert int(solved[1]) >= 1


def test_activation_derivatives_match_central_differences(tour):
    _, result, _ = tour
    (line,) = claim_lines(result, 5)
    errors = [float(e) for e in re.findall(r"(?:sigmoid|tanh|relu|softplus) ([0-9.e-]+)", line)]
    assert len(errors) == 4 and max(errors) < 1e-6


def test_mnist_accuracies_are_those_of_the_runs_written(tour):
    out, result, _ = tour
    summaries = {name: json.loads((out / "runs" / name / "summary.json").read_text())
                 for name in ("single-layer", "mlp")}
    _, limited = claim_lines(result, 6)
    (better,) = claim_lines(result, 7)
    single = summaries["single-layer"]["test_accuracy"]
    mlp = summaries["mlp"]["test_accuracy"]
    assert f"test accuracy {single:.2%} (1 seed)" in limited
    assert better.endswith(f"test accuracy {mlp:.2%} (1 seed) against {single:.2%} (1 seed)")
    assert mlp > single
    assert number_after(limited, "last epoch") == summaries["single-layer"]["last"][
        "train_mistakes"] > 0


def test_gradcheck_errors_are_small(tour):
    _, result, page = tour
    (line,) = claim_lines(result, 8)
    assert number_after(line, "largest relative error") <= 1e-6
    assert "nnctl gradcheck" in page.sections["backpropagation"]["pre"]


def test_the_commands_shown_rerun_to_the_same_numbers(tour, tmp_path, run):
    out, _, page = tour
    commands = page.sections["single-layer"]["pre"].splitlines()
    train = shlex.split(next(c for c in commands if c.startswith("nnctl train")))
    train[train.index("--out") + 1] = str(tmp_path / "again")
    train.remove("--force")
    again = run(*train[1:])
    assert again.exit_code == 0, again.stderr
    first = json.loads((out / "runs" / "single-layer" / "summary.json").read_text())
    second = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert second["test_accuracy"] == first["test_accuracy"]
    check = shlex.split(page.sections["backpropagation"]["pre"].strip())
    assert run(*check[1:]).exit_code == 0


def test_the_template_escapes_everything():
    hostile = "<script>alert(1)</script>"
    png = Figure(b"\x89PNG", hostile, hostile, hostile)
    html = render([Section(hostile, hostile, [Quote(hostile, [hostile])], [hostile],
                           [Claim(hostile, hostile, False)], [png], [[hostile], [hostile]],
                           [hostile])],
                  {key: hostile for key in ("lecture", "command", "version", "mode", "seconds",
                                            "date", "held", "claims", "out")})
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "does not hold" in html


# --------------------------------------------------------------------------- the output directory


def test_out_that_is_a_file_is_refused(run, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert_one_line_error(run("tour", "--out", target, "--quick"), 1, "not a directory")
    assert target.read_text() == "mine"


def test_out_under_a_file_is_refused(run, tmp_path):
    (tmp_path / "file").write_text("mine")
    assert_one_line_error(run("tour", "--out", tmp_path / "file" / "tour", "--quick"), 1,
                          "not a directory")


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_of_other_files_is_refused_even_with_force(run, tmp_path, force):
    (tmp_path / "thesis.tex").write_text("mine")
    (tmp_path / "index.html").write_text("my page")
    before = snapshot(tmp_path)
    result = run("tour", "--out", tmp_path, "--quick", *(["--force"] if force else []))
    assert_one_line_error(result, 1, "not a tour nnctl wrote")
    assert snapshot(tmp_path) == before and not (tmp_path / TOUR_MARKER).exists()


def test_a_run_directory_is_refused(run, tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / ".nnctl-run").write_text("{}")
    (run_dir / "config.yaml").write_text("model: {}\n")
    assert_one_line_error(run("tour", "--out", run_dir, "--force"), 1, "not a tour nnctl wrote")


def test_a_finished_tour_is_written_again_only_with_force(run, tmp_path):
    (tmp_path / TOUR_MARKER).write_text("{}")
    (tmp_path / PAGE).write_text("the earlier page")
    assert_one_line_error(run("tour", "--out", tmp_path, "--quick"), 1, "already holds a tour",
                          "--force")
    assert (tmp_path / PAGE).read_text() == "the earlier page"
    with claim_tour_dir(tmp_path, force=True) as claimed:  # --force: claimed, nothing removed
        assert claimed == tmp_path and (tmp_path / PAGE).exists()


def test_a_tour_being_written_is_refused(run, tmp_path):
    marker = tmp_path / TOUR_MARKER
    marker.write_text(json.dumps({"nnctl_tour": 1, "pid": 4242}))
    with open(marker) as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = run("tour", "--out", tmp_path, "--quick", "--force")
    assert_one_line_error(result, 1, "another nnctl tour is writing there", "process 4242")


def test_a_marker_that_is_not_a_file_is_refused(run, tmp_path):
    os.mkfifo(tmp_path / TOUR_MARKER)
    assert_one_line_error(run("tour", "--out", tmp_path, "--quick"), 1, "not a regular file")


# --------------------------------------------------------------------------- how a tour ends


def test_a_claim_that_does_not_hold_fails_after_writing_the_page(run, tmp_path, monkeypatch):
    def one_failing_section(tour):
        yield Section("broken", "A broken claim", [Quote("slide", ["words"])], ["nnctl x"],
                      [Claim("two is three", "measured 2", False)])

    monkeypatch.setattr(nnctl.tour, "sections", one_failing_section)
    result = run("tour", "--out", tmp_path / "t")
    assert_one_line_error(result, 1, "1 of 1 claims did not hold")
    assert "1. [DOES NOT HOLD] two is three: measured 2" in result.stdout
    assert "✗ does not hold" in (tmp_path / "t" / PAGE).read_text(encoding="utf-8")


def test_sigint_stops_the_tour_between_sections_without_a_page(run, tmp_path, monkeypatch):
    def sections_then_a_signal(tour):
        yield Section("first", "First", [Quote("slide", ["words"])], ["nnctl x"],
                      [Claim("holds", "yes", True)])
        os.kill(os.getpid(), signal.SIGINT)
        yield Section("second", "Second", [Quote("slide", ["words"])], ["nnctl x"],
                      [Claim("holds", "yes", True)])
        raise AssertionError("the tour went on after SIGINT")

    monkeypatch.setattr(nnctl.tour, "sections", sections_then_a_signal)
    result = run("tour", "--out", tmp_path / "t")
    assert result.exit_code == 130, result.stderr
    assert "SIGINT: the tour stopped after section 2" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "t" / PAGE).exists()

"""The README and the documentation site (docs/) say what the code does.

The README's walkthrough runs and prints what the README shows; every command, option, `--set`
and config key named in the README or a docs page exists, and every command and config key is
documented; the README's links resolve and its results are docs/results.md's.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import click
import pytest

from nnctl.cli import cli
from nnctl.cli.text import COMPILE_NOTICE
from nnctl.io.config import describe_keys

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
KEYS = {entry["key"] for entry in describe_keys()}
# Names the docs show on purpose as wrong: the did-you-mean example of the Reliability page.
WRONG_ON_PURPOSE = {"training.lr"}
CHECKED = "<!-- output checked by tests/test_readme.py -->"


def text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    """Every visible command by its path: {"train": ..., "data info": ...}."""
    found = {}
    context = click.Context(group)
    for name in group.list_commands(context):  # the root group loads its commands lazily
        command = group.get_command(context, name)
        if command.hidden:
            continue
        found[prefix + name] = command
        if isinstance(command, click.Group):
            found |= commands(command, f"{prefix}{name} ")
    return found


def code(page_text: str) -> list[str]:
    """The lines of the page's code blocks and its inline code spans."""
    lines = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", page_text, re.DOTALL | re.MULTILINE):
        lines += block.splitlines()
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", page_text, flags=re.DOTALL | re.MULTILINE)
    return lines + re.findall(r"`([^`\n]+)`", prose)


def config_hook():
    path = ROOT / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("config_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ config keys and commands


def test_the_config_reference_has_a_row_per_key():
    hook = config_hook()
    assert hook.MARKER in text(ROOT / "docs" / "reference" / "config.md")
    rows = re.findall(r"^\| `([a-z_.]+)` \|", hook.config_table(), re.MULTILINE)
    assert sorted(rows) == sorted(KEYS)


FILE_TYPES = {"py", "yaml", "md", "json", "jsonl", "npz", "npy", "png", "csv", "gz"}


def is_key_or_prefix(name: str) -> bool:
    if name.rsplit(".", 1)[-1] in FILE_TYPES:  # nnctl/data.py, a file's name
        return True
    name = name.removesuffix(".*")
    return name in KEYS or any(key.startswith(name + ".") for key in KEYS)


def test_every_config_key_named_in_the_docs_exists():
    pattern = re.compile(r"(?<![\w/.-])((?:model|training|data)\.[a-z_]+(?:\.[a-z_]+)*(?:\.\*)?)")
    stale = set()
    for page in PAGES:
        for span in code(text(page)):
            for name in pattern.findall(span):
                if not is_key_or_prefix(name) and name not in WRONG_ON_PURPOSE:
                    stale.add(f"{page.relative_to(ROOT)}: {name}")
    assert not stale, "config keys that do not exist"


def test_every_command_is_in_the_readme_and_the_docs():
    readme, docs = text(README), "".join(text(page) for page in PAGES[1:])
    for path in commands():
        assert path.count(" ") or f"nnctl {path}" in readme, path
        assert f"nnctl {path}" in docs, path


def option_names(command: click.Command) -> set[str]:
    return {name for param in command.params for name in param.opts + param.secondary_opts}


def stale_in(line: str) -> list[str]:
    """What a command line names that the CLI does not have: commands, options, --set keys."""
    line = line.split(" #")[0].removeprefix("$ ")
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    starts = [i for i, w in enumerate(words) if (w == "nnctl" or w.endswith("/nnctl"))
              and (i == 0 or words[i - 1] in ("-m", "do"))]  # a command, not a word of prose
    if not starts:
        return []
    words = [w.strip("[]|;") for w in words[starts[0] + 1:]]
    command, known, stale = cli, option_names(cli) | {"--help", "-h"}, []
    while words and isinstance(command, click.Group) and not words[0].startswith("-"):
        name = words.pop(0)
        subcommand = command.get_command(click.Context(command), name)
        if subcommand is None:
            return [] if not name.islower() else [f"command {name}"]  # COMMAND: a placeholder
        command = subcommand
        known |= option_names(command)
    for word, after in zip(words, [*words[1:], ""]):
        if word.startswith("--") and word.split("=")[0] not in known:
            stale.append(f"option {word}")
        if word == "--set" and not is_key_or_prefix(after.split("=")[0]):
            stale.append(f"--set {after}")
    return stale


def test_every_command_and_option_named_in_the_docs_exists():
    stale = [f"{page.relative_to(ROOT)}: {line.strip()}: {what}"
             for page in PAGES for line in code(text(page)) for what in stale_in(line)]
    assert not stale


def test_the_stale_check_sees_stale_names():
    assert stale_in("nnctl train configs/x.yaml --epochs 3") == ["option --epochs"]
    assert stale_in("nnctl fit configs/x.yaml") == ["command fit"]
    assert stale_in("nnctl data info DIR --figur f.png") == ["option --figur"]
    assert stale_in("nnctl train x.yaml --set training.lr=1") == ["--set training.lr=1"]
    assert stale_in("nnctl --debug COMMAND ...") == []
    assert stale_in("for s in 0 1; do nnctl train x.yaml --sed 1; done") == ["option --sed"]
    assert stale_in("marker: a run nnctl made") == []


# ------------------------------------------------------------------ the README itself


def test_the_readme_is_short_and_its_links_resolve():
    readme = text(README)
    assert len(readme.splitlines()) <= 200
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert any(t.endswith(".png") for t in targets)
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing


def test_the_readme_results_are_docs_results():
    results = text(ROOT / "docs" / "results.md").splitlines()
    rows = re.findall(r"^\|([^|\n]+)\|([^|\n]+)\|([^|\n]+)\| `(configs/classic/[^`]+)` \|$",
                      text(README), re.MULTILINE)
    assert len(rows) >= 3
    for _network, paper, ours, config in rows:
        row = [line for line in results if f"nnctl train {config} " in line]
        assert len(row) == 1, config
        assert f"| {paper.strip()} |" in row[0], config
        assert ours.strip() in row[0].replace("**", ""), config


# ------------------------------------------------------------------ the walkthrough, run

# What may differ from run to run: decimals (accuracies, losses, probabilities, seconds) and the
# integers of a duration or a speed (`left ~6s` or `left <1s`, `~1m04s`, `100k ex/s`). Other
# integers (digits, epochs, counts) must be as shown.
NUMBER = r"[~<]\d+(?:m\d+)?s\b|\d+\.\d+(?:e[-+]?\d+)?|\d+(?:m\d+)?(?=s\b)|\d+(?=k ex/s)"


def pattern(shown: str) -> re.Pattern:
    """A shown line with any value where it has a measured one, any run of spaces for its own."""
    parts = [re.sub(r"(?:\\ | )+", r"\\s+", re.escape(part))
             for part in re.split(NUMBER, shown.strip())]
    return re.compile(r"\s*" + f"(?:{NUMBER})".join(parts) + r"\s*$")


def percents(line: str) -> list[float]:
    return [float(p) for p in re.findall(r"(\d+\.\d+)%", line)]


def compare(shown: list[str], actual: list[str], step: str) -> None:
    """Every shown line, in order, in the actual output, its percentages within a point; with
    no `...` in the shown output, nothing else in the actual output."""
    actual = [line for line in actual if line.strip() and line.strip() != COMPILE_NOTICE]
    position = 0
    for line in shown:
        if line.strip() == "...":
            continue
        match = pattern(line)
        while position < len(actual) and not match.match(actual[position]):
            position += 1
        assert position < len(actual), f"{step}: not in the output: {line!r}\n" + "\n".join(actual)
        got, want = percents(actual[position]), percents(line)
        assert all(abs(g - w) <= 1.0 for g, w in zip(got, want)), (step, line, actual[position])
        position += 1
    if "..." not in [line.strip() for line in shown]:
        extra = [a for a in actual if not any(pattern(s).match(a) for s in shown)]
        assert not extra, f"{step}: output the README does not show: {extra}"


def walkthrough() -> list[tuple[str, list[str]]]:
    """The README's checked blocks as (command, the output shown under it)."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(re.escape(CHECKED) + r"\n```\n(.*?)```", text(README), re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def post(curl: str, url: str, cwd: Path) -> str:
    """What `curl --data-binary @FILE -H 'Content-Type: ...' URL` prints, sent to `url`'s server."""
    words = shlex.split(curl)
    body = (cwd / next(w for w in words if w.startswith("@"))[1:]).read_bytes()
    header = words[words.index("-H") + 1].split(": ", 1)
    path = re.sub(r"^https?://[^/]+/", "", words[-1])
    request = urllib.request.Request(url + path, data=body, headers={header[0]: header[1]})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read().decode()


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_readme_walkthrough_runs_as_shown(tmp_path):
    for name in ("configs", "data"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    nnctl = [sys.executable, "-m", "nnctl"]
    steps = walkthrough()
    assert {command.split()[1] for command, _ in steps if command.startswith("nnctl")} >= {
        "train", "evaluate", "inspect-weights", "predict", "serve"}
    server = url = None
    try:
        for command, shown in steps:
            words = shlex.split(command)
            if words[:2] == ["nnctl", "serve"]:
                server = subprocess.Popen([*nnctl, *words[1:], "--port", "0"], cwd=tmp_path,
                                          env=env, stdout=subprocess.PIPE, text=True)
                first = server.stdout.readline()
                url = re.search(r"http://\S+/", first).group(0)  # --port 0: the port it got
                compare([re.sub(r"http://\S+/", url, line) for line in shown], [first], command)
            elif words[0] == "curl":
                compare(shown, post(command, url, tmp_path).splitlines(), command)
            else:
                done = subprocess.run([*nnctl, *words[1:]], check=False, cwd=tmp_path, env=env,
                                      text=True, capture_output=True, timeout=600)
                assert done.returncode == 0, (command, done.stderr)
                compare(shown, (done.stderr + done.stdout).splitlines(), command)
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            assert server.wait(30) == 130


@pytest.mark.parametrize("shown,actual,fails", [
    (["test accuracy 98.15% (error 1.85%)"], ["test accuracy 98.40% (error 1.60%)"], False),
    (["test accuracy 98.15% (error 1.85%)"], ["test accuracy 90.00% (error 10.00%)"], True),
    (["left ~6s"], ["left ~1m04s"], False),
    (["a 1", "b 2"], ["a 1", "b 2", "c 3"], True),
    (["a 1", "...", "c 3"], ["a 1", "b 2", "c 3"], False),
    (["test accuracy 98.15%"], ["accuracy 98.15%"], True),
    (["x.png: 4 (97.1%); then 9 (2.9%)"], ["x.png: 9 (97.1%); then 4 (2.9%)"], True),
    (["9 epochs in 5.0 s (100k ex/s)"], ["9 epochs in 12.3 s (41k ex/s)"], False),
    (["9 epochs in 5.0 s (100k ex/s)"], ["8 epochs in 5.0 s (100k ex/s)"], True),
])
def test_the_comparison_sees_a_changed_output(shown, actual, fails):
    if fails:
        with pytest.raises(AssertionError):
            compare(shown, actual, "step")
    else:
        compare(shown, actual, "step")

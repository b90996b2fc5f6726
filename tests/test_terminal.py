"""Issue 19, part 3: standard output that cannot be written, Ctrl-C while nnctl starts, and
names from the file system that hold escape sequences. Real processes throughout."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_idx
from startup import python_own

from nnctl.terminal import shown

ROOT = Path(__file__).resolve().parent.parent
NASTY = "a\x1b[2Jb\nc"  # clears the screen, then breaks the line
# the console script's way of calling the entry point (pyproject.toml: nnctl._entry:main)
CONSOLE = "import sys; from nnctl._entry import main; sys.exit(main())"


def env() -> dict:
    return dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def nnctl(*args, cwd: Path, stdout=subprocess.PIPE, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", env())
    return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], check=False,
                          cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, **kwargs)


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A directory with a tiny dataset of 28x28 images (data/), a config training on it for one
    epoch and a run of it in runs/NASTY."""
    where = tmp_path_factory.mktemp("terminal")
    rng = np.random.default_rng(0)
    (where / "data").mkdir()
    for prefix, n in (("train", 200), ("t10k", 50)):
        write_idx(where / "data" / f"{prefix}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(where / "data" / f"{prefix}-labels-idx1-ubyte.gz",
                  (np.arange(n) % 10).astype(np.uint8))
    config = {"data": {"dir": "data", "validation": 50},
              "training": {"epochs": 1, "engine": "reference"}}
    (where / "tiny.yaml").write_text(yaml.safe_dump(config))
    done = nnctl("train", "tiny.yaml", "--out", f"runs/{NASTY}", "-q", cwd=where)
    assert done.returncode == 0, done.stderr
    return where


COMMANDS = [("evaluate", f"runs/{NASTY}", "--json"), ("evaluate", f"runs/{NASTY}"), ("runs",),
            ("train", "--keys"), ("data", "info", "data"),
            ("train", "tiny.yaml", "--out", "runs/again", "-q", "--force")]


def assert_cannot_write(done: subprocess.CompletedProcess, reason: str) -> None:
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert lines == [f"Error: cannot write to standard output: {reason}"], done.stderr


# Python's stdout writes through (PYTHONUNBUFFERED) or fails only when flushed: half of each
BUFFERING = [(args, "1" if k % 2 else "") for k, args in enumerate(COMMANDS)]


@pytest.mark.subprocess
@pytest.mark.parametrize("args, unbuffered", BUFFERING, ids=lambda a: " ".join(map(str, a[:2])))
def test_closed_stdout_is_one_line_and_exit_1(place, args, unbuffered):
    # `nnctl ... >&-`: fd 1 closed in the child before exec (not /dev/null)
    line = " ".join(f"'{a}'" for a in (sys.executable, "-m", "nnctl", *map(str, args)))
    done = subprocess.run(["sh", "-c", f"exec {line} >&-"], check=False, cwd=place,
                          stderr=subprocess.PIPE, env=dict(env(), PYTHONUNBUFFERED=unbuffered))
    assert_cannot_write(done, "Bad file descriptor")


@pytest.mark.parametrize("args, unbuffered", [(args, "" if flag else "1")
                                             for args, flag in BUFFERING],
                         ids=lambda a: " ".join(map(str, a[:2])))
@pytest.mark.subprocess
def test_full_disk_stdout_is_one_line_and_exit_1(place, args, unbuffered):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], check=False,
                              cwd=place, stdout=full, stderr=subprocess.PIPE,
                              env=dict(env(), PYTHONUNBUFFERED=unbuffered))
    assert_cannot_write(done, "No space left on device")


@pytest.mark.subprocess
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(map(str, a[:2])))
def test_a_reader_gone_stays_quiet(place, args):
    """A pipe whose reader has gone (`| head`): exit 1 as click does, nothing on stderr."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = nnctl(*args, cwd=place, stdout=write)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (1, b"")


@pytest.mark.subprocess
def test_head_of_a_big_output(place):
    done = subprocess.run(["sh", "-c", f"'{sys.executable}' -m nnctl train --keys | head -c1"],
                          check=False, cwd=place, env=env(), capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"C", b"")


@pytest.mark.subprocess
def test_closed_stderr_and_stdin_do_not_stop_a_command(place):
    """`2>&- <&-`: messages to stderr are dropped, the command works (it used to end with exit 1
    on `sys.stderr.isatty()`, its traceback lost); no file it opens gets fd 0 or 2."""
    line = f"exec '{sys.executable}' -m nnctl train tiny.yaml --out runs/closed --force"
    done = subprocess.run(["sh", "-c", f"{line} 2>&- <&-"], check=False, cwd=place, env=env(),
                          capture_output=True, text=True)
    assert done.returncode == 0 and "test accuracy" in done.stdout, done


@pytest.mark.subprocess
def test_a_stdout_that_works_is_untouched(place):
    done = nnctl("train", "--keys", cwd=place)
    assert done.returncode == 0 and done.stdout.startswith(b"Config keys") and not done.stderr


# --- 10: Ctrl-C while starting ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("how, moments", [("-m", 30), ("console script", 15)])
def test_sigint_in_the_first_moments_is_quiet(place, how, moments):
    """SIGINT at `moments` moments from 0 to 0.3 s after the start of `nnctl train`; on a loaded
    machine, where Python's own start-up takes most of that, later moments too, until a third of
    them have landed where nnctl handles the signal (else the test would check little)."""
    command = ([sys.executable, "-m", "nnctl"] if how == "-m"
               else [sys.executable, "-c", CONSOLE])

    def interrupted_at(moment: int, delay: float) -> bool:
        """Whether nnctl itself handled a SIGINT sent `delay` s after the start."""
        child = subprocess.Popen([*command, "train", "tiny.yaml", "--out", f"runs/sig{moment}",
                                  "--set", "training.epochs=200"],  # a few seconds: still going
                                 cwd=place, env=env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate()
        if python_own(err):
            return False
        assert "Traceback" not in err and "Fatal Python error" not in err, (moment, err)
        if child.returncode == 0:  # the signal came after the run had ended: its status stands
            assert "test accuracy" in out, (moment, out, err)
            return False
        # killed by the signal before Python's handler is in, or in the interpreter's last
        # moments (a shell reports both as 130), else 130 from nnctl
        assert child.returncode in (130, -signal.SIGINT), (moment, child.returncode, err)
        assert len(err.strip().splitlines()) <= 1 or "resume with" in err, (moment, err)
        return child.returncode == 130

    ours = sum(interrupted_at(moment, moment * 0.3 / moments) for moment in range(moments))
    later = 0
    while ours < moments // 3 and later < 2 * moments:  # start-up was slow: later moments
        later += 1
        ours += interrupted_at(moments + later, 0.3 + later * 0.3 / moments)
    assert ours >= moments // 3  # enough moments fell where nnctl handles the signal


@pytest.mark.subprocess
def test_the_handler_exits_at_once_even_where_an_exception_would_be_wrapped(tmp_path):
    """A signal while a class is being created (as during an import) ends with 130 and one
    line: a handler that raised would surface as `RuntimeError: Error calling __set_name__`."""
    program = ("import os, signal\nimport nnctl._entry\n"
               "class Field:\n    def __set_name__(self, owner, name):\n"
               "        os.kill(os.getpid(), signal.SIGINT)\n"
               "        for _ in range(10000): pass\n"
               "class Config:\n    rule = Field()\nprint('not reached')\n")
    done = subprocess.run([sys.executable, "-c", program], check=False, cwd=tmp_path, env=env(),
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (130, "")
    assert done.stderr == "SIGINT: stopped while starting; nothing was done\n"


@pytest.mark.subprocess
@pytest.mark.parametrize("window", ["parsing", "closing"])
def test_a_signal_around_the_command_never_becomes_clicks_abort(place, window):
    """SIGINT while Click parses the command line (before the command starts): the quiet stop,
    130; SIGINT once the command has ended (Click closing its context): ignored, the command's
    status stands. Click's own handling would print `Aborted!` and exit 1."""
    hook = ("make_context" if window == "parsing" else "close")
    owner = ("nnctl.cli.NnctlGroup" if window == "parsing" else "click.Context")
    program = ("import os, signal, sys\nimport nnctl._entry, nnctl.cli, click\n"
               f"cls = {owner}\noriginal = cls.{hook}\n"
               "def hooked(*args, **kwargs):\n"
               "    os.kill(os.getpid(), signal.SIGINT)\n"
               "    for _ in range(100000): pass\n"
               "    return original(*args, **kwargs)\n"
               f"cls.{hook} = hooked\n"
               "sys.argv = ['nnctl', 'train', '--keys']\nsys.exit(nnctl._entry.main())\n")
    done = subprocess.run([sys.executable, "-c", program], check=False, cwd=place, env=env(),
                          capture_output=True, text=True)
    assert "Aborted!" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    if window == "parsing":
        assert (done.returncode, done.stdout) == (130, ""), done
        assert done.stderr == "SIGINT: stopped while starting; nothing was done\n"
    else:
        assert done.returncode == 0 and done.stdout.startswith("Config keys"), done


@pytest.mark.subprocess
def test_entry_and_package_import_nothing_heavy(tmp_path):
    program = ("import sys, nnctl, nnctl._entry\n"
               "heavy = {'click', 'rich', 'numpy', 'nnctl.cli', 'yaml'} & set(sys.modules)\n"
               "print(sorted(heavy))")
    done = subprocess.run([sys.executable, "-c", program], check=False, cwd=tmp_path, env=env(),
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "[]", "")
    text = (ROOT / "pyproject.toml").read_text()
    assert 'nnctl = "nnctl._entry:main"' in text


def test_an_interrupt_wrapped_by_an_import_is_an_interrupt(run, monkeypatch):
    """KeyboardInterrupt raised inside __set_name__ reaches the command as a RuntimeError."""
    import nnctl.io.config

    def wrapped(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise RuntimeError("Error calling __set_name__ on 'Field' instance") from e

    monkeypatch.setattr(nnctl.io.config, "describe_keys", wrapped)
    result = run("train", "--keys")
    assert (result.exit_code, result.stderr) == (130, "interrupted\n")


# --- 11: names that hold control characters --------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("plain/é name [x]", "plain/é name [x]"),
    ("a\x1b[2Jb\nc", "a\\x1b[2Jb\\nc"),
    ("\r\t\x00\x7f\x85\x9b", "\\r\\t\\x00\\x7f\\x85\\x9b"),
    ("x\udcffy", "x\\xffy"),  # the byte 0xff, as os.fsdecode keeps it
    ("rtl\u202eevil\u2028", "rtl\\u202eevil\\u2028"),
])
def test_shown(name, expected):
    assert shown(name) == expected == shown(expected)
    assert shown(Path(name)) == expected


def assert_clean(text: str) -> None:
    assert "\x1b" not in text and "\\x1b[2Jb\\nc" in text, text


@pytest.mark.slow
def test_a_nasty_run_name_is_escaped_everywhere_it_is_shown(place):
    run = f"runs/{NASTY}"
    trained = nnctl("train", "tiny.yaml", "--out", f"runs/{NASTY}-2", cwd=place, text=True)
    assert trained.returncode == 0, trained.stderr
    assert_clean(trained.stdout)
    assert_clean(trained.stderr)
    assert all("\\nc" in line for line in trained.stdout.splitlines() if "->" in line)
    seen = f"{run}-seen"
    for args, names in ((("evaluate", run), True), (("runs",), True), (("runs", run), True),
                        (("plot", run, "--out", "curves.png", "--force"), False),
                        (("predict", run, ROOT / "data" / "own-digits" / "7-DejaVuSans.png",
                          "--save-preprocessed", seen), True)):
        done = nnctl(*args, cwd=place, text=True, env=dict(env(), COLUMNS="200"))
        assert done.returncode == 0, (args, done.stderr)
        assert "Warning" not in done.stderr and "\x1b" not in done.stderr, (args, done.stderr)
        assert "\x1b" not in done.stdout, (args, done.stdout)
        if names:
            assert_clean(done.stdout)
    # errors name the path escaped, in one line
    missing = nnctl("evaluate", f"{run}x", cwd=place, text=True)
    assert missing.returncode == 1
    assert missing.stderr == "Error: runs/a\\x1b[2Jb\\ncx: no such file\n"


@pytest.mark.slow
def test_machine_output_keeps_the_real_name(place):
    rows = [json.loads(line) for line in
            nnctl("runs", "--json", cwd=place, text=True).stdout.splitlines()]
    assert f"runs/{NASTY}" in {row["run"] for row in rows}
    table = nnctl("runs", "--csv", cwd=place).stdout.decode()
    assert f"runs/{NASTY}" in {row["run"] for row in csv.DictReader(io.StringIO(table))}
    evaluated = json.loads(nnctl("evaluate", f"runs/{NASTY}", "--json", cwd=place).stdout)
    assert NASTY in evaluated["checkpoint"]


@pytest.mark.subprocess
def test_names_that_are_not_utf8_or_look_like_markup(place):
    name = os.fsencode(place / "runs") + b"/\xff[bold]x[/bold]:cat:"
    shutil.copytree(os.fsencode(place / "runs" / NASTY), name)
    try:
        table = nnctl("runs", cwd=place, text=True, env=dict(env(), COLUMNS="200")).stdout
        assert "\\xff[bold]x[/bold]:cat:" in table and "\U0001f431" not in table
        machine = nnctl("runs", "--csv", cwd=place).stdout
        assert b"runs/\xff[bold]x[/bold]:cat:" in machine  # the real bytes
    finally:
        shutil.rmtree(name)

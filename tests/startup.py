"""Where a Ctrl-C at a process's start-up can still show Python's own traceback: before the
`nnctl` command's handler is in (see nnctl/_entry.py), in moments no code of nnctl's can reach."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_own(stderr: str) -> bool:
    """A SIGINT that arrived before the first line of nnctl/_entry.py ran: while the interpreter
    imported `site` (Python's `Fatal Python error: init_import_site`; or `Exception ignored in`
    or `Error processing line 1 of ....pth` when it fell in a callback or a .pth file, and the
    program goes on as if there had been no signal), or while runpy and the import system
    were finding nnctl and its entry module: a traceback whose only frames of nnctl's are the
    package's own __init__.py (which Python runs before any module of the package, the entry
    included), the line of __main__.py importing the entry, or the entry's lines above its
    handler. Nothing nnctl's code can change."""
    if not any(word in stderr for word in ("Traceback", "Exception ignored", "Error processing")):
        return False
    lines = stderr.splitlines()
    ours = [k for k, line in enumerate(lines) if str(ROOT / "nnctl") in line]
    return all(("nnctl/__main__.py" in lines[k] and "from nnctl._entry import main" in lines[k + 1])
               or "nnctl/__init__.py" in lines[k] or before_the_handler(lines[k]) for k in ours)


def before_the_handler(frame: str) -> bool:
    """A traceback frame in nnctl/_entry.py above the line that installs the handler (its first
    lines: a def and a tuple, microseconds, in which Python's default handler is still in)."""
    entry = (ROOT / "nnctl" / "_entry.py").read_text().splitlines()
    installed = next(n for n, line in enumerate(entry, 1) if "# INSTALLED" in line)
    match = re.search(r'_entry\.py", line (\d+)', frame)
    return match is not None and int(match[1]) < installed

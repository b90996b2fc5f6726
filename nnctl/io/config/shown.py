"""Values and keys as the config's error messages show them: bounded, cut to about 40
characters (a huge or deeply nested value is never shown whole)."""

from __future__ import annotations

import reprlib
from typing import Any

_REPR = reprlib.Repr()  # bounded: a huge or deeply nested value is never repr'd whole
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, 40, 40, 40


def show_value(value: Any) -> str:
    """A value as the user wrote it, cut to about 40 characters."""
    return shorten(_REPR.repr(value))


def shorten(text: str, width: int = 40) -> str:
    """`text` cut to `width` characters, ending in '...' where it was cut."""
    return text if len(text) <= width else text[: width - 3] + "..."

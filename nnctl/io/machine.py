"""What nnctl asks of the machine it runs on: its physical memory."""

from __future__ import annotations

import os


def physical_memory() -> int | None:
    """The machine's memory in bytes, or None where the system does not tell."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None

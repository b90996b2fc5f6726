"""What nnctl asks of the machine it runs on: its physical memory, and the C allocator to give
large buffers back."""

from __future__ import annotations

import os


def physical_memory() -> int | None:
    """The machine's memory in bytes, or None where the system does not tell."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


MMAP_THRESHOLD = 4 * 2**20  # buffers from this size on are mapped and unmapped on their own
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def return_large_buffers() -> bool:
    """Have the C allocator give buffers of MMAP_THRESHOLD bytes and more back to the system
    when they are freed (glibc; elsewhere nothing is done: False). glibc raises its threshold to
    the largest buffer freed, and then keeps freed buffers of up to that size: the evaluations'
    batches of floats and a streamed training's chunks (12 MB each, made in a second thread)
    would leave tens of MB of them held (training on full MNIST peaked 22 MiB higher). Costs a
    few percent of a streamed epoch's time (benchmarks/large_data.py)."""
    try:
        import ctypes

        return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False

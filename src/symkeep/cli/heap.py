"""Process-level memory settings for the bulk commands (addr2line, symbolize)."""

from __future__ import annotations

import sys

__all__ = ["keep_heap"]


def keep_heap() -> None:
    """glibc: serve large numpy temporaries from the heap and keep freed memory (no trim).

    The bulk table build allocates and frees many arrays of tens of MB; by default each is a fresh
    mmap whose pages fault in again (measured: half of the build's CPU time was page faults).
    This process is short-lived, so holding on to the peak heap is harmless. Also turn off numpy's
    transparent-hugepage madvise (same as NUMPY_MADVISE_HUGEPAGE=0): faulting in 2 MiB pages for
    short-lived temporaries cost ~0.3 s of system time per bulk build. No-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import importlib

    try:
        ma = importlib.import_module("numpy._core.multiarray")  # numpy 2
    except ImportError:
        ma = importlib.import_module("numpy.core.multiarray")  # numpy 1.x
    set_madvise = getattr(ma, "_set_madvise_hugepage", None)
    if set_madvise is not None:
        set_madvise(False)
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD

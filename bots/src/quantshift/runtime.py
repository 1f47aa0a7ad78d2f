"""Process-level tuning for the bot (and the bench that measures it).

Every cycle allocates and frees a few dozen bars x symbols float arrays of
~0.5 MB. With glibc's defaults each of them is a fresh mmap (page faults on
first touch, munmap on free), which costs more than the arithmetic. Raising
the mmap and trim thresholds keeps that memory in the heap for reuse; the
working set is a few MB, so RSS stays small.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Best effort; a no-op (False) where glibc's mallopt is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    try:
        ok1 = mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        ok2 = mallopt(_M_TRIM_THRESHOLD, trim_threshold)
        return bool(ok1 and ok2)
    except Exception:
        return False

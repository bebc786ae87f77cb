"""Keeping Python's cyclic garbage collector off a big, long-lived heap, and its freed memory returned.

A controller holds its model for its whole life (hundreds of thousands of small objects for 10,000
chains), and the collector's oldest generation walks all of them from time to time: a pause of a
quarter second per 2,000 chains, in the middle of whatever request or flow install was running.
`settle()`, called when a unit of work is done, moves everything alive to the collector's permanent
generation (`gc.freeze`), so later collections only look at what is new. Objects frozen while in a
garbage cycle would never be freed, so every `FULL_INTERVAL` seconds `settle()` first unfreezes and
collects everything once (at a moment the caller chose: between units of work).

`release()` hands the C allocator's free memory back to the system after a big unit of work: glibc
keeps what a burst freed (a full compile's intermediates, a resync's dump, a big bundle's frames) in
its arenas, so without it an agent's RSS stays at the highest it ever was.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from collections.abc import Callable

FULL_INTERVAL = 600.0

_lock = threading.Lock()
_last_full = time.monotonic()


def settle() -> None:
    """Freeze what is alive now; once in a while collect everything first."""
    global _last_full
    with _lock:
        now = time.monotonic()
        if now - _last_full >= FULL_INTERVAL:
            _last_full = now
            gc.unfreeze()
            gc.collect()
        gc.freeze()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release() -> bool:
    """Return the C allocator's free pages to the system (every arena's, not only the top of the heap);
    False where there is no way to (then it does nothing). A few ms for a heap of hundreds of MB."""
    if _TRIM is None:
        return False
    with _lock:
        _TRIM(0)
    return True

"""Keeping Python's cyclic garbage collector off a big, long-lived heap.

A controller holds its model for its whole life (hundreds of thousands of small objects for 10,000
chains), and the collector's oldest generation walks all of them from time to time: a pause of a
quarter second per 2,000 chains, in the middle of whatever request or flow install was running.
`settle()`, called when a unit of work is done, moves everything alive to the collector's permanent
generation (`gc.freeze`), so later collections only look at what is new. Objects frozen while in a
garbage cycle would never be freed, so every `FULL_INTERVAL` seconds `settle()` first unfreezes and
collects everything once (at a moment the caller chose: between units of work).
"""

from __future__ import annotations

import gc
import threading
import time

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

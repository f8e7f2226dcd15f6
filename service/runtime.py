"""How a long-running process of the service (an API process, a worker) treats Python's collector.

The objects made while a process starts (modules, the app, its routes, the statements built once)
live as long as the process, yet the cyclic collector walks them again on every older-generation
pass; and each request or job allocates thousands of short-lived objects (SQLAlchemy rows and
statements, httpx requests), so the default young-generation threshold of 700 allocations runs
the collector dozens of times a request. Both cost CPU for nothing found (CPython's ``gc.freeze``
and a larger first threshold are its documented remedy for servers).
"""

from __future__ import annotations

import gc

__all__ = ["settle_after_start"]

# allocations between young-generation collections; the older generations keep CPython's ratios
YOUNG_GENERATION_THRESHOLD = 50_000


def settle_after_start() -> None:
    """Once a process has started: what exists now is out of the collector's way, and the young
    generation is collected less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)

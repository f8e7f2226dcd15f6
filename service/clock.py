"""The service's one source of time.

Everything in the service that needs "now" asks :func:`now`; nothing else reads the system clock.
Production runs on the system clock; the sandbox installs its virtual clock with :func:`use_clock`,
so backoff, re-drive and timers run on scenario time there. (PostgreSQL's own ``now()`` in column
defaults is the database's clock: it stamps rows, it decides nothing in Python.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "now", "system_clock", "use_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


_clock: Clock = system_clock


def now() -> datetime:
    """The current time, timezone-aware (UTC), from the installed clock."""
    return _clock()


def use_clock(clock: Clock | None) -> None:
    """Install ``clock`` for this process (``None``: back to the system clock)."""
    global _clock
    _clock = clock or system_clock

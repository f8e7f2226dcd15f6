"""The service's one source of time.

Everything in the service that needs "now" asks :func:`now`; nothing else reads the system clock.
Production runs on the system clock; the sandbox installs its virtual clock with :func:`use_clock`,
so backoff, re-drive and timers run on scenario time there. One kind of time stays real there too:
:func:`lease_now`, for claims on work under way. (PostgreSQL's own ``now()`` in column defaults is
the database's clock: it stamps rows, it decides nothing in Python.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "lease_now", "now", "system_clock", "use_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


# the clocks installed, the newest last: the newest is in force until it is removed
_installed: list[Clock] = []


def now() -> datetime:
    """The current time, timezone-aware (UTC), from the clock in force."""
    return (_installed[-1] if _installed else system_clock)()


def lease_now() -> datetime:
    """The time a claim on work under way is measured in: the system's, whichever clock is in force.

    A claim (a provisioning step's ``claimed_until``) keeps a second runner off a step while the first
    runs it, and lapses when that runner is gone; the queue bounds how long a job runs in real seconds
    (its timeout). Scenario time may move on by an hour in one step while a job is running, and would
    hand its step to a second runner: one customer, two welcome emails."""
    return system_clock()


def use_clock(clock: Clock) -> Callable[[], None]:
    """Install ``clock`` for this process; the function returned removes it again.

    Installations nest whatever order they end in: two sandboxes in one process each install their
    clock and remove only their own, so one stopping never takes the clock from under the other
    (the newest installed is the one in force while it stays)."""
    _installed.append(clock)

    def remove() -> None:
        for index in range(len(_installed) - 1, -1, -1):
            if _installed[index] is clock:
                del _installed[index]
                return

    return remove

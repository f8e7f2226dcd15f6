"""One clock for every fake, virtual or following the wall.

A ``VirtualClock`` moves only when told to: ``await clock.advance(seconds)`` runs, in time order,
every timer that falls due on the way (a webhook retry, a token expiry). The same code runs on a
``VirtualClock`` that keeps pace with real time (``follow_wall=True``), which is how ``sim up``
runs: timers then fire by themselves as real seconds pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

__all__ = ["Timer", "VirtualClock"]

log = structlog.get_logger(__name__)

EPOCH_DEFAULT = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

TimerCallback = Callable[[], Awaitable[None] | None]


@dataclass(order=True)
class Timer:
    due: float
    sequence: int
    callback: TimerCallback = field(compare=False)
    label: str = field(default="", compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock whose time is a float of seconds since the Unix epoch."""

    def __init__(self, start: datetime = EPOCH_DEFAULT, *, follow_wall: bool = False) -> None:
        self._offset = start.timestamp()
        self._follow_wall = follow_wall
        self._wall_anchor = time.monotonic()
        self._timers: list[Timer] = []
        self._sequence = itertools.count()
        self._lock = asyncio.Lock()
        self._runner: asyncio.Task[None] | None = None
        self._running: set[asyncio.Future[None]] = set()
        self._wakeup: asyncio.Event | None = None

    @classmethod
    def wall(cls) -> VirtualClock:
        """A clock that reads real time and fires timers as it passes (still advanceable by hand)."""
        return cls(datetime.now(UTC), follow_wall=True)

    # reading
    def time(self) -> float:
        if self._follow_wall:
            return self._offset + (time.monotonic() - self._wall_anchor)
        return self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def pending(self) -> list[Timer]:
        return sorted(t for t in self._timers if not t.cancelled)

    # scheduling
    def call_at(self, when: float, callback: TimerCallback, label: str = "") -> Timer:
        timer = Timer(when, next(self._sequence), callback, label)
        heapq.heappush(self._timers, timer)
        if self._wakeup is not None:
            self._wakeup.set()
        return timer

    def call_later(self, delay: float | timedelta, callback: TimerCallback, label: str = "") -> Timer:
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
        return self.call_at(self.time() + seconds, callback, label)

    # moving
    async def advance(self, delta: float | timedelta) -> int:
        """Move forward by ``delta`` seconds, running due timers in order; returns how many ran."""
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        return await self.advance_to(self.time() + seconds)

    async def advance_to(self, target: float) -> int:
        ran = 0
        async with self._lock:
            while self._timers and self._timers[0].due <= target:
                timer = heapq.heappop(self._timers)
                if timer.cancelled:
                    continue
                self._jump_to(timer.due)
                result = timer.callback()
                if result is not None:
                    await result
                ran += 1
            self._jump_to(target)
        return ran

    def _jump_to(self, target: float) -> None:
        # works for both kinds: a wall-following clock jumps ahead and then keeps following
        now = self.time()
        if target > now:
            self._offset += target - now
            if self._wakeup is not None:
                # the runner may be sleeping towards a timer that is now due sooner in real time
                self._wakeup.set()

    async def run_due(self) -> int:
        """Run what is due now without moving the clock."""
        return await self.advance_to(self.time())

    # following the wall
    def start(self) -> None:
        """With ``follow_wall``, fire timers as real time reaches them (until ``stop``)."""
        if not self._follow_wall:
            raise RuntimeError("only a clock that follows the wall runs by itself")
        if self._runner is None:
            self._wakeup = asyncio.Event()
            self._runner = asyncio.create_task(self._run(), name="sim-clock")

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            self._wakeup.clear()
            timeout = None
            live = [t for t in self._timers if not t.cancelled]
            if live:
                timeout = max(0.0, min(live).due - self.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            self._start_due()

    def _start_due(self) -> None:
        """On the wall's time, due timers run side by side, as independent real events do; each is
        started in due order. (``advance`` keeps running them one after the other, for replays.)"""
        now = self.time()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            try:
                result = timer.callback()
            except Exception:  # one failing timer must not stop every later one
                log.exception("clock.timer_failed", label=timer.label)
                continue
            if result is not None:
                task = asyncio.ensure_future(result)
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("clock.timer_failed", error=repr(task.exception()))

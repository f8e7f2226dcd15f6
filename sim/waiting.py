"""Waiting on a condition with a deadline, never for a fixed time: one helper for the scenarios,
the notebooks' helpers and the test suite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, until: Callable[[T], bool] = bool,
                     timeout: float = 20.0, what: str = "the condition",  # noqa: ASYNC109 - a deadline on a condition
                     failure: type[Exception] = AssertionError,
                     describe: Callable[[T], object] = repr) -> T:
    """Call ``probe`` until ``until(result)`` holds and return that result; at the deadline raise
    ``failure`` saying what was awaited and what was last seen (shown by ``describe``)."""
    deadline = time.monotonic() + timeout
    interval = 0.02
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise failure(f"{what} did not happen within {timeout:g} s; last seen: {describe(result)}")
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, 0.5)

"""Waiting on a condition with a deadline, never for a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually"]

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T]], *, until: Callable[[T], bool] = bool,
                     timeout: float = 20.0, what: str = "the condition") -> T:
    """Call ``probe`` until ``until(result)`` holds; the last result, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    interval = 0.02
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s; last seen: {result!r}")
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, 0.25)

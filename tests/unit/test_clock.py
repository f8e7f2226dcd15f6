"""The sandbox's clock: a jump ahead wakes the runner that fires timers as real time passes."""

from __future__ import annotations

import asyncio

from sim.clock import VirtualClock


async def test_a_timer_due_just_after_a_jump_fires_without_waiting_out_the_jump_in_real_time() -> None:
    clock = VirtualClock.wall()
    clock.start()
    fired = asyncio.Event()

    async def schedules_a_retry() -> None:
        clock.call_later(60, fired.set)  # as a webhook's retry is scheduled by a failed attempt
        for _ in range(3):
            await asyncio.sleep(0)  # the runner looks at its timers meanwhile, and sees one 60 s away

    clock.call_later(0, schedules_a_retry)
    try:
        await clock.advance(59.9)  # the retry is now a tenth of a second away
        await asyncio.wait_for(fired.wait(), timeout=5)
    finally:
        await clock.stop()

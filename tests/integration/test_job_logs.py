"""A failing job, run by a real SAQ worker with the service's after-process hook: one line per
retry, and the traceback once, when it gives up."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from saq import Worker
from saq.job import Status
from structlog.testing import capture_logs

from service.queue import create_queue
from service.settings import Settings
from service.worker import _after_process
from tests.support.waiting import eventually


async def send_welcome_email(ctx: dict[str, Any], *, customer_id: str) -> None:
    raise ConnectionError("SMTP 451 try again later")


async def test_a_failing_job_logs_each_retry_in_one_line_and_its_traceback_once(
    settings: Settings, database_url: str,
) -> None:
    queue = create_queue(settings, database_url)
    queue.name = f"joblogs-{uuid.uuid4().hex[:8]}"
    await queue.connect()
    worker = Worker(queue, functions=[send_welcome_email], after_process=_after_process, concurrency=1)  # type: ignore[list-item]
    worker.SIGNALS = []
    task = asyncio.create_task(worker.start())
    try:
        with capture_logs() as logs:
            job = await queue.enqueue("send_welcome_email", customer_id="c-1", retries=3, retry_delay=0.05,
                                      retry_backoff=False, timeout=5)
            assert job is not None

            async def state() -> Status | None:
                await job.refresh()
                return job.status

            await eventually(state, until=lambda status: status == Status.FAILED, timeout=20, what="the job failed")
    finally:
        await worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await queue.disconnect()
    retries = [line for line in logs if line["event"] == "job.retry"]
    failures = [line for line in logs if line["event"] == "job.failed"]
    assert [line["attempt"] for line in retries] == [1, 2]
    assert all(line["error_type"] == "ConnectionError" and line["job"] == "send_welcome_email" for line in retries)
    assert all("exc_info" not in line for line in retries)
    [failure] = failures
    assert failure["attempt"] == 3
    assert isinstance(failure["exc_info"], ConnectionError)

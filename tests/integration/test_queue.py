"""The service's Postgres queue: SAQ's, with a job's status written in one statement."""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from saq import Job, Worker
from saq.queue.postgres import PostgresQueue

from service.db.engine import libpq_url
from service.queue import ServiceQueue, create_queue
from service.settings import load_settings
from service.worker import ping
from tests.support.databases import query

pytestmark = pytest.mark.skipif(os.environ.get("QUEUE_URL", "").startswith("redis"),
                                reason="the Postgres queue is the one configured without QUEUE_URL")


def test_the_status_write_it_replaces_is_still_saqs() -> None:
    # the override takes what SAQ's own method takes: an upgrade of SAQ that changes it fails here
    def shape(function: object) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]

    assert shape(ServiceQueue._update) == shape(PostgresQueue._update)


async def test_a_job_runs_to_complete_through_dequeue_start_and_finish(database_url: str) -> None:
    settings = load_settings({}, database_url=database_url, queue_name=f"queue-test-{uuid.uuid4().hex[:8]}")
    queue = create_queue(settings, database_url)
    assert isinstance(queue, ServiceQueue)
    await queue.connect()
    worker = Worker(queue, functions=[ping], concurrency=2)  # type: ignore[list-item]
    worker.SIGNALS = []
    running = asyncio.create_task(worker.start())
    try:
        tokens = [uuid.uuid4().hex for _ in range(5)]
        answers = await asyncio.gather(*(queue.apply("ping", timeout=30, token=token) for token in tokens))
        assert answers == tokens
        async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
            cursor = await connection.execute("SELECT status, count(*) FROM saq_jobs WHERE queue = %s GROUP BY 1",
                                              (queue.name,))
            assert dict(await cursor.fetchall()) == {"complete": 5}
    finally:
        await worker.stop()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await queue.disconnect()


async def test_a_queue_connection_cut_while_idle_is_replaced_and_one_lent_a_moment_ago_is_not_checked(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({}, database_url=database_url, queue_name=f"queue-test-{uuid.uuid4().hex[:8]}")
    queue = create_queue(settings, database_url)
    assert isinstance(queue, ServiceQueue)
    await queue.connect()
    checks: list[object] = []
    check = AsyncConnectionPool.check_connection

    async def counted(connection: psycopg.AsyncConnection) -> None:  # type: ignore[type-arg]
        checks.append(connection)
        await check(connection)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", counted)
    try:
        pids = []
        for _ in range(12):  # each connection lent again and again at once: checked the first time only
            async with queue.pool.connection() as connection:
                pids.append(connection.info.backend_pid)
        assert len(checks) <= len(set(pids)) < len(pids)  # (one made for a waiting lend is not checked)
        monkeypatch.setattr("service.queue.PING_AFTER_IDLE_SECONDS", 0.0)  # every connection counts as idle now
        cut = pids[0]
        await query(database_url, "SELECT pg_terminate_backend(%s)", cut)
        for _ in range(len(set(pids)) + 1):  # each lent once more: no error, the cut one found by its check
            async with queue.pool.connection() as connection:
                await connection.execute("SELECT 1")
                assert connection.info.backend_pid != cut
    finally:
        await queue.disconnect()


async def test_jobs_enqueued_together_are_the_rows_saq_writes_in_one_round_trip(database_url: str) -> None:
    settings = load_settings({}, database_url=database_url, queue_name=f"queue-test-{uuid.uuid4().hex[:8]}")
    queue = create_queue(settings, database_url)
    assert isinstance(queue, ServiceQueue)
    await queue.connect()
    try:
        alone = await queue.enqueue("ping", key="by-saq", token="a", timeout=7, retries=3)  # SAQ's own enqueue
        assert alone is not None
        lent = queue.pool.get_stats().get("requests_num", 0)
        assert await queue.enqueue_jobs([Job("ping", key=f"together-{n}", kwargs={"token": str(n)}, timeout=7,
                                             retries=3) for n in range(3)]
                                        + [Job("ping", key="together-0", kwargs={"token": "again"})]) == 3
        assert queue.pool.get_stats().get("requests_num", 0) - lent == 1  # one connection lent, one statement
        rows = {key: (status, priority, group_key) for key, status, priority, group_key in await query(
            database_url, "SELECT key, status, priority, group_key FROM saq_jobs WHERE queue = %s", queue.name)}
        assert rows == {key: ("queued", 0, None) for key in ("by-saq", "together-0", "together-1", "together-2")}
        theirs, ours = await queue.job("by-saq"), await queue.job("together-1")
        assert theirs is not None
        assert ours is not None
        assert (ours.function, ours.kwargs, ours.timeout, ours.retries, ours.status) == (
            theirs.function, {"token": "1"}, theirs.timeout, theirs.retries, theirs.status)
        # a key still queued is left as it is, as SAQ's enqueue leaves it
        assert await queue.enqueue_jobs([Job("ping", key="together-1", kwargs={"token": "changed"})]) == 0
        kept = await queue.job("together-1")
        assert kept is not None
        assert kept.kwargs == {"token": "1"}
        # and the workers hear of them: a worker runs all four
        worker = Worker(queue, functions=[ping], concurrency=2)  # type: ignore[list-item]
        worker.SIGNALS = []
        running = asyncio.create_task(worker.start())
        try:
            async def all_complete() -> bool:
                statuses = await query(database_url, "SELECT status FROM saq_jobs WHERE queue = %s", queue.name)
                return [s for (s,) in statuses] == ["complete"] * 4

            deadline = asyncio.get_running_loop().time() + 30
            while not await all_complete():
                assert asyncio.get_running_loop().time() < deadline, "the jobs enqueued together did not all run"
                await asyncio.sleep(0.05)
        finally:
            await worker.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    finally:
        await queue.disconnect()

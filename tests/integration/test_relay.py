"""The relay marks rows relayed and commits before it enqueues their jobs: a job that starts at once
finds its rows unlocked, rows whose jobs could not be enqueued are relayed again, and one wake-up's
rows become one job per owner in a single enqueue."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql
from saq import Queue

from service.db.engine import create_engine, libpq_url, session_factory
from service.db.models import KycCallbackRecord
from service.queue import ServiceQueue, create_queue
from service.relay import FEEDS, Feed, Relay
from service.settings import Settings, load_settings
from tests.support.databases import query, scratch_database


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    async with scratch_database("relay") as url:
        yield url


async def store_callback(url: str, applicant: str) -> int:
    rows = await query(url, "INSERT INTO kyc_callbacks (idempotency_key, type, applicant_id, payload) "
                            "VALUES (%s, 'applicantPending', %s, '{}'::jsonb) RETURNING id",
                       f"relay-test:{uuid.uuid4()}", applicant)
    return int(rows[0][0])


async def unrelayed(url: str, ids: list[int]) -> set[int]:
    rows = await query(url, "SELECT id FROM kyc_callbacks WHERE id = ANY(%s) AND queued_at IS NULL", ids)
    return {int(row[0]) for row in rows}


def relay_with(database_url: str, enqueue: Any) -> tuple[Relay, Any]:
    feed = Feed("kyc-inbox", "kyc_callback_received", KycCallbackRecord, KycCallbackRecord.queued_at,
                (KycCallbackRecord.external_user_id, KycCallbackRecord.applicant_id), enqueue)
    settings = load_settings({}, database_url=database_url)
    engine = create_engine(database_url, 2)
    return Relay(session_factory(engine), cast(Queue, None), settings, database_url, feeds=(feed,)), engine


async def test_a_job_enqueued_finds_its_rows_committed_and_unlocked(database_url: str) -> None:
    seen: list[tuple[list[int], set[int]]] = []

    async def enqueue(queue: Queue, settings: Settings, by_owner: list[list[int]]) -> None:
        # what a job that starts at once would see: its rows marked, and no lock held on them
        ids = [row_id for owned in by_owner for row_id in owned]
        async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
            await connection.execute("SET lock_timeout = '1s'")
            cursor = await connection.execute("SELECT id FROM kyc_callbacks WHERE id = ANY(%s) "
                                              "AND queued_at IS NOT NULL FOR UPDATE NOWAIT", (ids,))
            seen.append((ids, {int(row[0]) for row in await cursor.fetchall()}))

    first = await store_callback(database_url, f"app-{uuid.uuid4().hex[:8]}")
    relay, engine = relay_with(database_url, enqueue)
    try:
        assert await relay.relay_all() >= 1
    finally:
        await engine.dispose()
    [(ids, marked)] = [(ids, marked) for ids, marked in seen if first in ids]
    assert marked == set(ids)


async def test_rows_whose_jobs_could_not_be_enqueued_are_relayed_again(database_url: str) -> None:
    earlier, engine = relay_with(database_url, _ignore)
    try:
        await earlier.relay_all()  # earlier tests' rows out of the way
    finally:
        await engine.dispose()
    applicants = [f"app-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    ids = [await store_callback(database_url, applicant) for applicant in applicants]
    enqueued: list[list[list[int]]] = []
    broken = {"queue down": True}

    async def enqueue(queue: Queue, settings: Settings, by_owner: list[list[int]]) -> None:
        if broken["queue down"]:
            raise ConnectionError("the queue is away")
        enqueued.append(by_owner)

    relay, engine = relay_with(database_url, enqueue)
    try:
        with pytest.raises(ConnectionError):
            await relay.relay_all()
        assert await unrelayed(database_url, ids) == set(ids)
        broken["queue down"] = False
        await relay.relay_all()
    finally:
        await engine.dispose()
    assert enqueued == [[[ids[0]], [ids[1]], [ids[2]]]]  # one enqueue, one job per owner, in order
    assert await unrelayed(database_url, ids) == set()


@pytest.mark.skipif(os.environ.get("QUEUE_URL", "").startswith("redis"), reason="jobs read from the Postgres queue")
async def test_a_wake_ups_rows_become_one_job_per_customer_enqueued_once(database_url: str) -> None:
    earlier, engine = relay_with(database_url, _ignore)
    try:
        await earlier.relay_all()
    finally:
        await engine.dispose()
    ada, bob = f"app-{uuid.uuid4().hex[:8]}", f"app-{uuid.uuid4().hex[:8]}"
    ada_first, bob_only, ada_second = [await store_callback(database_url, a) for a in (ada, bob, ada)]
    settings = load_settings({}, database_url=database_url, queue_name=f"relay-test-{uuid.uuid4().hex[:8]}")
    queue = create_queue(settings, database_url)
    await queue.connect()
    engine = create_engine(database_url, 2)
    relay = Relay(session_factory(engine), queue, settings, database_url, feeds=(FEEDS[0],))
    try:
        async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as listener:
            await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(cast(ServiceQueue, queue)._channel)))
            assert await relay.relay_all() == 3
            notified = await anext(listener.notifies(timeout=10))
        assert notified.payload == "saq:enqueue"
        jobs = dict(await query(database_url, "SELECT key, status FROM saq_jobs WHERE queue = %s", queue.name))
        assert jobs == {f"kyc-callback:{ada_second}": "queued", f"kyc-callback:{bob_only}": "queued"}
        ada_job = await queue.job(f"kyc-callback:{ada_second}")
        assert ada_job is not None
        assert ada_job.kwargs == {"callback_id": ada_second, "earlier": [ada_first]}
        assert ada_job.retries == settings.job_max_attempts
        # relayed again (a crash after the enqueue, before anything was recorded): still the same two jobs
        await query(database_url, "UPDATE kyc_callbacks SET queued_at = NULL WHERE id = ANY(%s)",
                    [ada_first, bob_only, ada_second])
        assert await relay.relay_all() == 3
        again = dict(await query(database_url, "SELECT key, status FROM saq_jobs WHERE queue = %s", queue.name))
        assert again == jobs
    finally:
        await engine.dispose()
        await queue.disconnect()


async def _ignore(queue: Queue, settings: Settings, by_owner: list[list[int]]) -> None:
    return None

"""The relay marks rows relayed and commits before it enqueues their jobs: a job that starts at once
finds its rows unlocked, and rows whose job could not be enqueued are relayed again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import psycopg
import pytest
from saq import Queue

from service.db.engine import create_engine, libpq_url, session_factory
from service.db.models import KycCallbackRecord
from service.relay import Feed, Relay
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

    async def enqueue(queue: Queue, settings: Settings, ids: list[int]) -> None:
        # what a job that starts at once would see: its rows marked, and no lock held on them
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


async def test_rows_whose_job_could_not_be_enqueued_are_relayed_again(database_url: str) -> None:
    earlier, engine = relay_with(database_url, _ignore)
    try:
        await earlier.relay_all()  # earlier tests' rows out of the way
    finally:
        await engine.dispose()
    applicants = [f"app-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    ids = [await store_callback(database_url, applicant) for applicant in applicants]
    enqueued: list[list[int]] = []
    broken = {"queue down": True}

    async def enqueue(queue: Queue, settings: Settings, owned: list[int]) -> None:
        if broken["queue down"] and len(enqueued) == 1:
            raise ConnectionError("the queue is away")
        enqueued.append(owned)

    relay, engine = relay_with(database_url, enqueue)
    try:
        with pytest.raises(ConnectionError):
            await relay.relay_all()
        assert enqueued == [[ids[0]]]
        assert await unrelayed(database_url, ids) == {ids[1], ids[2]}  # the one enqueued stays relayed
        broken["queue down"] = False
        await relay.relay_all()
    finally:
        await engine.dispose()
    assert enqueued == [[ids[0]], [ids[1]], [ids[2]]]
    assert await unrelayed(database_url, ids) == set()


async def _ignore(queue: Queue, settings: Settings, ids: list[int]) -> None:
    return None

"""The service's one PostgreSQL driver (psycopg) where it differs from the one it replaced: moments
come back in UTC whatever the server's time zone, and the relay wakes on a NOTIFY, not on its poll,
listening again when its connection is cut."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import cast

import pytest
from saq import Queue
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from service.db.engine import create_engine, session_factory
from service.db.models import KycCallbackRecord
from service.relay import Feed, Relay
from service.settings import Settings, load_settings
from tests.support.databases import query, scratch_database
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    """A database of this module's own: no relay of another test takes its callbacks."""
    async with scratch_database("driver") as url:
        yield url


async def test_moments_read_back_are_in_utc_whatever_the_server_time_zone(database_url: str) -> None:
    name = make_url(database_url).database
    await query(database_url, f"ALTER DATABASE \"{name}\" SET TimeZone = 'Asia/Kathmandu'")
    try:
        engine = create_engine(database_url, 1)
        try:
            async with engine.connect() as connection:
                moment = await connection.scalar(select(func.now()))
                zone = await connection.scalar(text("SHOW TimeZone"))
        finally:
            await engine.dispose()
        assert moment is not None
        assert moment.utcoffset() == timedelta(0), (zone, moment)
        # the server's setting is really in force for other clients: it was the session that was put in UTC
        assert (await query(database_url, "SHOW TimeZone"))[0][0] == "Asia/Kathmandu"
    finally:
        await query(database_url, f'ALTER DATABASE "{name}" RESET TimeZone')


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[tuple[Relay, list[int]]]:
    relayed: list[int] = []

    async def record(queue: Queue, settings: Settings, by_owner: list[list[int]]) -> None:
        relayed.extend(row_id for owned in by_owner for row_id in owned)

    feed = Feed("kyc-inbox", "kyc_callback_received", KycCallbackRecord, KycCallbackRecord.queued_at,
                (KycCallbackRecord.external_user_id, KycCallbackRecord.applicant_id), record)
    # a poll an hour apart: whatever is relayed within the test's deadlines was woken by a NOTIFY
    settings = load_settings({}, database_url=database_url, outbox_poll_seconds=3600.0)
    engine = create_engine(database_url, 2)
    relay = Relay(session_factory(engine), cast(Queue, None), settings, database_url, feeds=(feed,))
    relay.start()
    try:
        yield relay, relayed
    finally:
        await relay.stop()
        await engine.dispose()


async def listening(url: str) -> list[int]:
    """The backends of this database whose last statement was a LISTEN (the relay's connection)."""
    rows = await query(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND state = 'idle' AND query ILIKE 'LISTEN%'")
    return [int(row[0]) for row in rows]


async def store_callback(url: str) -> int:
    key = f"driver-test:{uuid.uuid4()}"
    rows = await query(url, "INSERT INTO kyc_callbacks (idempotency_key, type, payload) "
                            "VALUES (%s, 'applicantPending', '{}'::jsonb) RETURNING id", key)
    return int(rows[0][0])


async def test_a_stored_callback_wakes_the_relay_at_once(database_url: str,
                                                         relay: tuple[Relay, list[int]]) -> None:
    _, relayed = relay
    await eventually(lambda: listening(database_url), what="the relay listening")
    row_id = await store_callback(database_url)
    await eventually(lambda: _async(relayed), until=lambda ids: row_id in ids, timeout=15,
                     what="the callback relayed on its NOTIFY")


async def test_the_relay_listens_again_when_its_connection_is_cut(database_url: str,
                                                                  relay: tuple[Relay, list[int]]) -> None:
    _, relayed = relay
    [first] = await eventually(lambda: listening(database_url), what="the relay listening")
    await query(database_url, "SELECT pg_terminate_backend(%s)", first)
    await eventually(lambda: listening(database_url), until=lambda pids: bool(pids) and first not in pids,
                     timeout=15, what="the relay listening on a new connection")
    row_id = await store_callback(database_url)
    await eventually(lambda: _async(relayed), until=lambda ids: row_id in ids, timeout=15,
                     what="the callback relayed on its NOTIFY")


async def _async(value: list[int]) -> list[int]:
    return list(value)


async def test_a_connection_cut_while_idle_is_replaced_before_it_is_lent(database_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.db.engine.PING_AFTER_IDLE_SECONDS", 0.0)  # every lent connection counts as idle
    engine = create_engine(database_url, 1)
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
        await query(database_url, "SELECT pg_terminate_backend(%s)", first)
        async with engine.connect() as connection:  # no error: the cut connection was found by its ping
            second = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await engine.dispose()


async def test_a_connection_used_a_moment_ago_is_lent_without_a_ping(database_url: str) -> None:
    engine = create_engine(database_url, 1)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda connection: pings.append(connection) or ping(connection)  # type: ignore[method-assign]
    try:
        for _ in range(3):
            async with engine.connect() as connection:
                await connection.scalar(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert pings == []

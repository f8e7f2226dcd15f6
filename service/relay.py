"""Relays: committed rows become SAQ jobs, once each, promptly.

Two tables feed the queue this way: the KYC inbox (stored callbacks become processing jobs) and
the outbox (events become provisioning jobs). Rows of one customer relayed together become one
job, keyed by the newest: the KYC fold and the provisioning run each take every earlier row of
the customer too. A trigger NOTIFYs the feed's channel on every insert; the relay LISTENs and
wakes at once, and also polls, so a lost notification (a dropped connection) only delays. Rows are
claimed with ``FOR UPDATE SKIP LOCKED``, so any number of relays (one per worker process) share
the work, and each job is keyed by a row id, so a row relayed twice after a crash is still one
job. Keeping the enqueue out of the request is what lets the webhook answer after a single INSERT.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg import sql
from saq import Queue
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.engine import libpq_url, single_statements
from service.db.models import KycCallbackRecord, OutboxRecord
from service.kyc.jobs import enqueue_callbacks
from service.provisioning.jobs import enqueue_outbox_events
from service.settings import Settings

__all__ = ["FEEDS", "Feed", "Relay", "by_owner"]

log = structlog.get_logger(__name__)

BATCH = 200


@dataclass(frozen=True)
class Feed:
    name: str
    channel: str
    table: Any  # a mapped class with an integer ``id``
    marker: Any  # its nullable timestamp column, set once the row's job is enqueued
    owner: tuple[Any, ...]  # the columns saying whose row it is: the rows of one owner make one job
    enqueue: Callable[[Queue, Settings, list[list[int]]], Awaitable[None]]  # a job for each owner's row ids


FEEDS = (
    Feed("kyc-inbox", "kyc_callback_received", KycCallbackRecord, KycCallbackRecord.queued_at,
         (KycCallbackRecord.external_user_id, KycCallbackRecord.applicant_id), enqueue_callbacks),
    Feed("outbox", "outbox_written", OutboxRecord, OutboxRecord.relayed_at, (OutboxRecord.customer_id,),
         enqueue_outbox_events),
)


def by_owner(rows: Iterable[Sequence[Any]]) -> list[list[int]]:
    """``(id, *owner)`` rows as one list of ids per owner, in order of each owner's first row."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        groups.setdefault(tuple(row[1:]), []).append(int(row[0]))
    return list(groups.values())


class Relay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: Queue, settings: Settings,
                 database_url: str, feeds: tuple[Feed, ...] = FEEDS) -> None:
        self._sessions = sessions
        self._queue = queue
        self._settings = settings
        self._database_url = database_url
        self._feeds = feeds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unrelayed: dict[str, Any] = {}  # each feed's claiming statement, built once: run on every wake-up

    async def relay_once(self, feed: Feed) -> int:
        """Enqueue a batch of the feed's unrelayed rows, in id order; how many.

        The rows are marked relayed and committed before their jobs are enqueued (all in one round
        trip on the Postgres queue): a job that starts at once then finds its rows unlocked instead of
        waiting for this transaction. When the jobs cannot be enqueued, the rows are unmarked again, to
        be relayed on the next wake-up (a job already enqueued is not enqueued twice: its key is a row
        id); rows lost to a crash in between are found by the feed's sweep (the inbox sweep, the
        provisioning re-drive).
        """
        claiming = self._unrelayed.get(feed.name)
        if claiming is None:
            batch = (select(feed.table.id).where(feed.marker.is_(None)).order_by(feed.table.id).limit(BATCH)
                     .with_for_update(skip_locked=True))
            claiming = self._unrelayed[feed.name] = (
                update(feed.table).where(feed.table.id.in_(batch.scalar_subquery()))
                .values({feed.marker.key: func.now()}).returning(feed.table.id, *feed.owner)
                .execution_options(synchronize_session=False))
        async with single_statements(self._sessions) as session:  # claimed and marked in one statement
            rows = sorted((await session.execute(claiming)).all(), key=lambda row: int(row[0]))
        ids = [row[0] for row in rows]
        if not ids:
            return 0
        try:
            await feed.enqueue(self._queue, self._settings, by_owner(rows))
        except Exception:
            async with self._sessions.begin() as session:
                await session.execute(update(feed.table).where(feed.table.id.in_(ids)).values({feed.marker.key: None}))
            raise
        return len(ids)

    async def relay_all(self) -> int:
        total = 0
        for feed in self._feeds:
            while (count := await self.relay_once(feed)) > 0:
                total += count
                if count < BATCH:
                    break
        return total

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> _Listener | None:
        try:
            connection = await psycopg.AsyncConnection.connect(libpq_url(self._database_url), autocommit=True,
                                                              connect_timeout=10)
        except (OSError, psycopg.Error) as exc:
            log.warning("relay.listen_failed", error=type(exc).__name__)
            return None
        try:
            for feed in self._feeds:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(feed.channel)))
        except (OSError, psycopg.Error) as exc:
            log.warning("relay.listen_failed", error=type(exc).__name__)
            await connection.close()
            return None
        return _Listener(connection, asyncio.create_task(self._wake_on_notify(connection), name="relay-listen"))

    async def _wake_on_notify(self, connection: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for _ in connection.notifies():
                self._wake.set()
        except (OSError, psycopg.Error) as exc:
            # the connection is gone, and notifications with it: relay now, and listen again
            log.warning("relay.listen_lost", error=type(exc).__name__)
            self._wake.set()

    async def _run(self) -> None:
        listener = await self._listen()
        try:
            while True:
                self._wake.clear()
                try:
                    await self.relay_all()
                except Exception:  # the database may be away: log, wait, try again
                    log.exception("relay.failed")
                if listener is None or not listener.alive():
                    if listener is not None:
                        await listener.close()
                    listener = await self._listen()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.outbox_poll_seconds)
        finally:
            if listener is not None:
                await listener.close()


@dataclass
class _Listener:
    """The LISTEN connection, and the task that turns its notifications into wake-ups."""

    connection: psycopg.AsyncConnection[Any]
    task: asyncio.Task[None]

    def alive(self) -> bool:
        return not self.task.done() and not self.connection.closed

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        with contextlib.suppress(OSError, psycopg.Error):
            await self.connection.close()

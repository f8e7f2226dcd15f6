"""The outbox relay: committed outbox rows become SAQ jobs, once each, promptly.

A trigger NOTIFYs ``outbox_written`` on every insert; the relay LISTENs and wakes at once, and
also polls, so a lost notification (a dropped connection) only delays. Rows are claimed with
``FOR UPDATE SKIP LOCKED``, so any number of relays (one per worker process) share the work, and
each row's job is keyed by its id, so a row relayed twice after a crash is still one job.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import asyncpg
import structlog
from saq import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.engine import libpq_url
from service.db.models import OutboxRecord
from service.provisioning.jobs import enqueue_outbox_event
from service.settings import Settings

__all__ = ["CHANNEL", "OutboxRelay"]

log = structlog.get_logger(__name__)

CHANNEL = "outbox_written"
BATCH = 200


class OutboxRelay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queue: Queue, settings: Settings,
                 database_url: str) -> None:
        self._sessions = sessions
        self._queue = queue
        self._settings = settings
        self._database_url = database_url
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def relay_once(self) -> int:
        """Enqueue a batch of unrelayed rows in id order; how many."""
        async with self._sessions.begin() as session:
            rows = (await session.scalars(
                select(OutboxRecord).where(OutboxRecord.relayed_at.is_(None)).order_by(OutboxRecord.id)
                .limit(BATCH).with_for_update(skip_locked=True)
            )).all()
            for row in rows:
                await enqueue_outbox_event(self._queue, self._settings, row.id)
                row.relayed_at = datetime.now(UTC)
        return len(rows)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> asyncpg.Connection | None:
        try:
            connection = await asyncpg.connect(libpq_url(self._database_url))
            await connection.add_listener(CHANNEL, lambda *_: self._wake.set())
            return connection
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox.listen_failed", error=type(exc).__name__)
            return None

    async def _run(self) -> None:
        listener = await self._listen()
        try:
            while True:
                self._wake.clear()
                try:
                    while await self.relay_once() == BATCH:
                        pass
                except Exception:  # the database may be away: log, wait, try again
                    log.exception("outbox.relay_failed")
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.outbox_poll_seconds)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

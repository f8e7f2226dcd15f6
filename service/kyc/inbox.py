"""The callback inbox: one row per distinct callback, under a UNIQUE idempotency key.

Storing is the webhook's whole database work. Callbacks that arrive together are written
together: ``InboxWriter`` takes what queued up while the previous write was in flight and stores
it with one multi-row ``INSERT … ON CONFLICT DO NOTHING``; each request is answered only after its
own row is committed, so batching changes how many round trips there are, not what a 200 means.
No ORM unit of work, no enqueue: a relay in the worker turns new rows into jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from service.kyc.domain import Callback

__all__ = ["InboxWriter"]

_INSERT = """
    INSERT INTO kyc_callbacks (idempotency_key, type, external_user_id, applicant_id, event_created_at, payload)
    SELECT key, type, external_user_id, applicant_id, event_created_at, payload::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
        AS incoming(key, type, external_user_id, applicant_id, event_created_at, payload)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING idempotency_key, id
"""


@dataclass
class _Pending:
    key: str
    callback: Callback
    body: str
    answer: asyncio.Future[int | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class InboxWriter:
    def __init__(self, pool: asyncpg.Pool, *, max_batch: int = 256) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def store(self, key: str, callback: Callback, body: bytes) -> int | None:
        """Store the callback with its body as received; its row id, or None when it was already there."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_batches(), name="inbox-writer")
        pending = _Pending(key, callback, body.decode())
        await self._queue.put(pending)
        return await pending.answer

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():  # nobody will write these: their requests get a 5xx now
            _fail(self._queue.get_nowait(), RuntimeError("the service is shutting down"))

    async def _write_batches(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except asyncpg.DataError:
                # one body PostgreSQL cannot hold (a \u0000 escape) must not fail its neighbours
                for pending in batch:
                    try:
                        await self._write([pending])
                    except Exception as exc:
                        _fail(pending, exc)
            except Exception as exc:
                for pending in batch:
                    _fail(pending, exc)

    async def _write(self, batch: list[_Pending]) -> None:
        created: list[datetime | None] = [p.callback.created_at for p in batch]
        rows = await self._pool.fetch(
            _INSERT,
            [p.key for p in batch], [p.callback.type for p in batch], [p.callback.external_user_id for p in batch],
            [p.callback.applicant_id for p in batch], created, [p.body for p in batch],
        )
        stored = {row["idempotency_key"]: int(row["id"]) for row in rows}
        for pending in batch:
            # a key twice in one batch: the first is the callback, the second its duplicate
            row_id = stored.pop(pending.key, None)
            if not pending.answer.done():
                pending.answer.set_result(row_id)


def _fail(pending: _Pending, exc: Exception) -> None:
    if not pending.answer.done():
        pending.answer.set_exception(exc)

"""The callback inbox: one row per distinct callback, under a UNIQUE idempotency key.

Storing is the webhook's whole database work. Callbacks that arrive together are written
together: ``InboxWriter`` takes what queued up while the previous write was in flight and stores
it with one multi-row ``INSERT … ON CONFLICT DO NOTHING``; each request is answered only after its
own row is committed, so batching changes how many round trips there are, not what a 200 means.
No ORM unit of work, no enqueue: a relay in the worker turns new rows into jobs.

A batch is one statement, so one row the database refuses fails it whole. The writer then writes
the batch again row by row, so that only the guilty row fails; only a lost connection (nothing
could be written) fails a whole batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import msgspec
import psycopg
import structlog
from psycopg import errors

from service.db.pool import OnDemandPool
from service.kyc.domain import CORRELATION_ID_SHOWN, CREATED_AT_MS_SHOWN, Callback

__all__ = ["MAX_DEPTH", "InboxWriter", "UnstorableCallback", "storage_problem"]

log = structlog.get_logger(__name__)

# The batch goes as one JSON array of rows, each row an array whose last item is the callback's body
# as received (embedded raw, not re-encoded): one text parameter that msgspec writes in C, where
# eight array parameters cost psycopg several times the client CPU of the whole INSERT (measured:
# see ``_write``). PostgreSQL parses the body once, as the ``text::jsonb`` cast did.
_INSERT = """
    INSERT INTO kyc_callbacks (idempotency_key, type, external_user_id, applicant_id, event_created_at,
                               correlation_id, created_at_ms, payload)
    SELECT item->>0, item->>1, item->>2, item->>3, (item->>4)::timestamptz, item->>5, item->>6, item->7
    FROM jsonb_array_elements(%s::jsonb) AS incoming(item)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING idempotency_key, id
"""

# Sumsub's callbacks are three levels deep. Deeper bodies are refused at the door: PostgreSQL
# would take them, but every later reader (processing, the operator API) decodes stored bodies with
# a recursive parser, and a body it cannot read back would fail there for good.
MAX_DEPTH = 32
_NUL_ESCAPE = b"\\u0000"


def storage_problem(body: bytes) -> str | None:
    """Why this JSON body cannot be kept and read back, or None.

    ``jsonb`` refuses the NUL character (``\\u0000``) anywhere; stored bodies are decoded again by
    parsers that recurse and that refuse integers of more than 4,300 digits and numbers beyond a
    double. The body is decoded once here (a few microseconds) and walked, without recursion, only
    when it has more brackets than MAX_DEPTH or something like a NUL escape.
    """
    try:
        document = msgspec.json.decode(body)
    except RecursionError:
        return f"the JSON is nested deeper than {MAX_DEPTH} levels"
    except msgspec.ValidationError:
        return "a number in the callback is too large to be read"
    except (msgspec.DecodeError, UnicodeDecodeError):
        return "the body is not JSON in UTF-8"
    if body.count(b"{") + body.count(b"[") <= MAX_DEPTH and _NUL_ESCAPE not in body:
        return None
    nul = "a string in the callback holds a NUL character (\\u0000), which cannot be stored"
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return nul
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"the JSON is nested deeper than {MAX_DEPTH} levels"
            if isinstance(value, dict):
                if any("\x00" in key for key in value):
                    return nul
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
    return None


class UnstorableCallback(Exception):
    """The database refused this one callback for what it holds (a 400: sending it again cannot help)."""


# The database is out of reach, or refuses all work: nothing in the batch could be written. By
# SQLSTATE class: 08 connection exception, 53 insufficient resources (too many clients, out of
# memory), 57 operator intervention (shutting down, starting up); errors without a SQLSTATE are
# the client's own ("connection failed", "consuming input failed", a closed pool).
_CONNECTION_LOST = (OSError, TimeoutError, psycopg.InterfaceError)
_CONNECTION_LOST_CLASSES = frozenset({"08", "53", "57"})
# What a row holds: a value the column or jsonb cannot take (class 22, data exception, or a value
# psycopg itself cannot send), an entry too large for an index (54000, program limit exceeded).
_ROW_REFUSED = (psycopg.DataError, errors.ProgramLimitExceeded, UnicodeError)


def _connection_lost(exc: Exception) -> bool:
    if isinstance(exc, _CONNECTION_LOST):
        return True
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate is None:
            return isinstance(exc, psycopg.OperationalError)
        return exc.sqlstate[:2] in _CONNECTION_LOST_CLASSES
    return False


@dataclass
class _Pending:
    key: str
    callback: Callback
    body: str
    answer: asyncio.Future[int | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class InboxWriter:
    def __init__(self, pool: OnDemandPool, *, max_batch: int = 256) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def store(self, key: str, callback: Callback, body: bytes) -> int | None:
        """Store the callback with its body as received; its row id, or None when it was already there.

        Raises UnstorableCallback when the database refuses this callback for its content, and the
        database's own error when it could not be reached or failed otherwise.
        """
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
            except Exception as exc:
                if len(batch) == 1 or _connection_lost(exc):
                    for pending in batch:
                        _fail(pending, exc)
                else:
                    log.warning("inbox.batch_refused", size=len(batch), error=type(exc).__name__,
                                sqlstate=getattr(exc, "sqlstate", None))
                    await self._write_one_by_one(batch)
            finally:
                for pending in batch:  # cancelled while writing (shutdown): their requests get a 5xx, not a hang
                    _fail(pending, RuntimeError("the service is shutting down"))

    async def _write_one_by_one(self, batch: list[_Pending]) -> None:
        for index, pending in enumerate(batch):
            try:
                await self._write([pending])
            except Exception as exc:
                if _connection_lost(exc):
                    for rest in batch[index:]:
                        _fail(rest, exc)
                    return
                _fail(pending, exc)

    async def _write(self, batch: list[_Pending]) -> None:
        # Sent as eight arrays (unnest), psycopg's array dumping took 45-70 us of client CPU a row
        # against asyncpg's 8-14; as one JSON document, 6-20 us (batches of 8 to 32).
        rows_document = msgspec.json.encode([
            (p.key, p.callback.type, p.callback.external_user_id, p.callback.applicant_id, p.callback.created_at,
             _cut(p.callback.correlation_id, CORRELATION_ID_SHOWN), _cut(p.callback.created_at_ms, CREATED_AT_MS_SHOWN),
             msgspec.Raw(p.body))
            for p in batch
        ]).decode()
        # the pool's connections are in autocommit: the INSERT is its own transaction, one round trip
        async with self._pool.connection() as connection:
            cursor = await connection.execute(_INSERT, (rows_document,))
            rows = await cursor.fetchall()
        stored = {key: int(row_id) for key, row_id in rows}
        for pending in batch:
            # a key twice in one batch: the first is the callback, the second its duplicate
            row_id = stored.pop(pending.key, None)
            if not pending.answer.done():
                pending.answer.set_result(row_id)


def _cut(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]


def _fail(pending: _Pending, exc: Exception) -> None:
    if pending.answer.done():
        return
    if isinstance(exc, _ROW_REFUSED) and not _connection_lost(exc):
        refused = UnstorableCallback("the database refused the callback")
        refused.__cause__ = exc
        log.warning("inbox.callback_refused", key=pending.key[:80], error=type(exc).__name__,
                    sqlstate=getattr(exc, "sqlstate", None))
        exc = refused
    pending.answer.set_exception(exc)

"""The inbox writer's batching and what it does when the database refuses a batch, against a fake pool."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import psycopg
import pytest
from psycopg import errors

from service.db.pool import OnDemandPool
from service.kyc.domain import decode_callback, idempotency_key
from service.kyc.inbox import InboxWriter, UnstorableCallback


class FakePool:
    """Answers the inbox INSERT as PostgreSQL would, failing any statement that holds a poisoned key.

    It stands for the pool, its connection and the cursor: ``connection()`` lends itself, ``execute``
    returns itself, and ``fetchall`` answers the statement last executed.
    """

    def __init__(self, refuse: Callable[[list[str]], Exception | None]) -> None:
        self.refuse = refuse
        self.statements: list[list[str]] = []
        self.stored: dict[str, int] = {}
        self._rows: list[tuple[str, int]] = []

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[FakePool]:
        yield self

    async def execute(self, query: str, params: tuple[str]) -> FakePool:
        rows = json.loads(params[0])  # the batch: one JSON array of rows, the key first
        self._rows = await self.fetch(query, [row[0] for row in rows])
        return self

    async def fetchall(self) -> list[tuple[str, int]]:
        return self._rows

    async def fetch(self, query: str, keys: list[str]) -> list[tuple[str, int]]:
        self.statements.append(list(keys))
        await asyncio.sleep(0)
        error = self.refuse(keys)
        if error is not None:
            raise error
        rows = []
        for key in keys:
            if key not in self.stored:
                self.stored[key] = len(self.stored) + 1
                rows.append((key, self.stored[key]))
        return rows


def poisoned_by(error: Exception, *, guilty: str = "guilty") -> Callable[[list[str]], Exception | None]:
    return lambda keys: error if any(guilty in key for key in keys) else None


async def store_all(writer: InboxWriter, names: list[str]) -> list[int | BaseException | None]:
    async def store(name: str) -> int | None:
        raw = json.dumps({"type": "applicantPending", "correlationId": name,
                          "createdAtMs": "2026-05-04 09:12:40.118"}).encode()
        callback = decode_callback(raw)
        return await writer.store(idempotency_key(callback, raw), callback, raw)
    try:
        return await asyncio.gather(*(store(name) for name in names), return_exceptions=True)
    finally:
        await writer.close()


NAMES = [f"c{n}" for n in range(20)] + ["guilty"] + [f"d{n}" for n in range(19)]


async def test_callbacks_that_arrive_together_are_one_statement() -> None:
    pool = FakePool(lambda keys: None)
    answers = await store_all(InboxWriter(cast(OnDemandPool, pool)), [*NAMES, "c1"])
    assert len(pool.statements) == 1
    assert answers[:-1] == list(range(1, 41))
    assert answers[-1] is None  # the copy of c1 in the same batch is its duplicate


@pytest.mark.parametrize(("error", "answer"), [
    (errors.ProgramLimitExceeded("index row size exceeds btree version 4 maximum"), UnstorableCallback),
    (errors.UntranslatableCharacter("unsupported Unicode escape sequence"), UnstorableCallback),
    (errors.StringDataRightTruncation("value too long"), UnstorableCallback),
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), UnstorableCallback),
    (errors.CheckViolation("new row violates check constraint"), errors.CheckViolation),
    (errors.ForeignKeyViolation("violates foreign key"), errors.ForeignKeyViolation),
    (errors.DeadlockDetected("deadlock detected"), errors.DeadlockDetected),
    (errors.InternalError_("internal"), errors.InternalError_),
    (RuntimeError("a bug"), RuntimeError),
])
async def test_an_error_of_one_row_fails_that_row_only(error: Exception, answer: type[Exception]) -> None:
    pool = FakePool(poisoned_by(error))
    answers = await store_all(InboxWriter(cast(OnDemandPool, pool)), NAMES)
    guilty = answers.pop(NAMES.index("guilty"))
    assert isinstance(guilty, answer)
    assert all(isinstance(a, int) for a in answers), answers
    assert len(pool.stored) == 39
    assert len(pool.statements) == 1 + len(NAMES)  # the whole batch, then one statement a row


@pytest.mark.parametrize("error", [
    errors.ConnectionDoesNotExist("connection was closed in the middle of operation"),
    errors.CannotConnectNow("the database system is starting up"),
    errors.AdminShutdown("terminating connection due to administrator command"),
    errors.TooManyConnections("sorry, too many clients already"),
    psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"),
    psycopg.InterfaceError("the connection is closed"),
    psycopg.OperationalError("connection failed: connection to server at \"127.0.0.1\", port 9 failed"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
])
async def test_only_a_lost_connection_fails_a_whole_batch_and_it_is_not_retried_row_by_row(error: Exception) -> None:
    pool = FakePool(lambda keys: error)
    answers = await store_all(InboxWriter(cast(OnDemandPool, pool)), NAMES)
    assert all(a is error for a in answers)
    assert len(pool.statements) == 1


async def test_a_connection_lost_while_writing_row_by_row_fails_the_rest_at_once() -> None:
    lost = errors.ConnectionDoesNotExist("connection was closed")

    def refuse(keys: list[str]) -> Exception | None:
        if len(keys) > 1:
            return errors.ProgramLimitExceeded("index row size exceeds")
        return lost if "d3" in keys[0] else None
    pool = FakePool(refuse)
    answers = await store_all(InboxWriter(cast(OnDemandPool, pool)), NAMES)
    cut = NAMES.index("d3")
    assert all(isinstance(a, int) for a in answers[:cut])
    assert all(a is lost for a in answers[cut:])
    assert len(pool.statements) == 1 + cut + 1


async def test_callbacks_being_written_when_the_writer_closes_are_answered_not_left_hanging() -> None:
    started, never = asyncio.Event(), asyncio.Event()

    class StuckPool(FakePool):
        async def fetch(self, query: str, keys: list[str], *columns: list[Any]) -> list[dict[str, Any]]:
            started.set()
            await never.wait()
            return []
    writer = InboxWriter(cast(OnDemandPool, StuckPool(lambda keys: None)))
    raw = b'{"type": "applicantPending"}'
    storing = asyncio.ensure_future(writer.store("k", decode_callback(raw), raw))
    await started.wait()
    await writer.close()
    with pytest.raises(RuntimeError, match="shutting down"):
        await asyncio.wait_for(storing, timeout=5)

"""The webhook's connections: psycopg, in autocommit, made on demand and kept while they are sound.

psycopg_pool is not used here on purpose: when the database is away it keeps trying to connect in
the background while a request waits for its ``timeout`` (30 s by default), so every callback
would hang that long before its 5xx. Here a connection that cannot be made fails the request at
once, as the webhook's contract wants (Sumsub sends the callback again later).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

__all__ = ["OnDemandPool"]


class OnDemandPool:
    """At most ``max_size`` connections at a time; none made before they are needed."""

    def __init__(self, conninfo: str, *, max_size: int, connect_timeout: int = 10) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._slots = asyncio.Semaphore(max_size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._closed = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._closed:
            raise psycopg.OperationalError("the connection pool is closed")
        async with self._slots:
            connection = self._idle.pop() if self._idle else await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=self._connect_timeout)
            try:
                yield connection
            finally:
                # a statement the database refused leaves the connection idle and fit for the next one;
                # a lost connection, or one cancelled mid-statement, is closed
                if (self._closed or connection.closed
                        or connection.info.transaction_status != TransactionStatus.IDLE):
                    await _close(connection)
                else:
                    self._idle.append(connection)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await _close(connection)


async def _close(connection: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(OSError, psycopg.Error):
        await connection.close()

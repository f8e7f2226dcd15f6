"""A fresh database per test session, on the configured server or the embedded one."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from service.db.embedded import start_embedded_postgres
from service.db.engine import drop_database, ensure_database, libpq_url, migrate

__all__ = ["query", "scratch_database", "server_url"]


async def server_url() -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    # the scratch server, fsync off: these databases are thrown away (the run's header says so)
    server = await asyncio.to_thread(start_embedded_postgres, durable=False)
    return server.url()


@asynccontextmanager
async def scratch_database(prefix: str = "test") -> AsyncIterator[str]:
    """A migrated database that exists only for the duration of the block."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    url = await ensure_database(await server_url(), name)
    await migrate(url)
    try:
        yield url
    finally:
        await drop_database(url, name)


async def query(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """``statement`` run on its own connection, in autocommit: its rows (none for a statement without)."""
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as connection:
        cursor = await connection.execute(statement, params or None)
        return await cursor.fetchall() if cursor.description else []

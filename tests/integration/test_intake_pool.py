"""The webhook's connection pool: a database out of reach fails a request at once, a connection the
server cut is not lent again, a statement the database refused leaves its connection fit for reuse."""

from __future__ import annotations

import socket

import psycopg
import pytest

from service.db.engine import libpq_url
from service.db.pool import OnDemandPool


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def backend_pid(pool: OnDemandPool) -> int:
    async with pool.connection() as connection:
        row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_database_out_of_reach_fails_the_request_with_the_connection_error() -> None:
    pool = OnDemandPool(f"postgresql://postgres@127.0.0.1:{closed_port()}/gone", max_size=2)
    with pytest.raises(psycopg.OperationalError, match="connection") as refused:
        async with pool.connection():
            pass
    assert refused.value.sqlstate is None  # the client's own: nothing was waited for
    assert type(refused.value) is psycopg.OperationalError  # not a pool timeout after waiting for a connection
    await pool.close()


async def test_a_refused_statement_leaves_the_connection_for_the_next_request(database_url: str) -> None:
    pool = OnDemandPool(libpq_url(database_url), max_size=1)
    try:
        first = await backend_pid(pool)
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with pool.connection() as connection:
                await connection.execute("SELECT 1 / 0")
        assert await backend_pid(pool) == first
    finally:
        await pool.close()


async def test_a_connection_the_server_cut_is_not_lent_again(database_url: str) -> None:
    pool = OnDemandPool(libpq_url(database_url), max_size=1)
    try:
        first = await backend_pid(pool)
        async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        with pytest.raises(psycopg.OperationalError):  # the request that finds it cut fails: nothing was written
            await backend_pid(pool)
        assert await backend_pid(pool) != first  # the next one gets a new connection
    finally:
        await pool.close()

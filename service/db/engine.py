"""Connections: which database, the async engine, and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import structlog
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection

from service.db.embedded import start_embedded_postgres
from service.settings import Settings

__all__ = [
    "EMBEDDED_DATABASE",
    "alembic_config",
    "create_engine",
    "downgrade_sync",
    "drop_database",
    "ensure_database",
    "libpq_url",
    "migrate",
    "resolve_database_url",
    "session_factory",
    "single_statements",
    "sqlalchemy_url",
]

log = structlog.get_logger(__name__)

EMBEDDED_DATABASE = "onboarding"
MIGRATIONS = Path(__file__).parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy's psycopg dialect, whatever spelling was configured."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` URL that psycopg takes (the inbox pool, the relay, SAQ's Postgres queue)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _maintenance_url(server_url: str) -> str:
    return libpq_url(make_url(server_url).set(database="postgres").render_as_string(hide_password=False))


async def ensure_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url`` unless it exists; its URL."""
    # CREATE DATABASE cannot run inside a transaction block
    async with await psycopg.AsyncConnection.connect(_maintenance_url(server_url), autocommit=True) as connection:
        cursor = await connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if await cursor.fetchone() is None:
            # another process may create it first
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                await connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, name: str) -> None:
    async with await psycopg.AsyncConnection.connect(_maintenance_url(server_url), autocommit=True) as connection:
        await connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def resolve_database_url(settings: Settings) -> tuple[str, bool]:
    """The configured database, or the embedded one (started on demand); and whether it is embedded."""
    if settings.database_url:
        return settings.database_url, False
    server = await asyncio.to_thread(start_embedded_postgres)
    log.info("database.embedded", data_dir=str(server.data_dir), port=server.port, fsync=server.durable,
             database=EMBEDDED_DATABASE)
    return await ensure_database(server.url(), EMBEDDED_DATABASE), True


# A connection back in the pool for longer than this is pinged before it is lent again: a server
# restarted or a connection cut while it sat idle is found then, not by the statement of a request.
# One used a moment ago is lent as it is, which saves a round trip on every transaction under load.
PING_AFTER_IDLE_SECONDS = 2.0


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """``pool_size`` connections are kept open; as many again are opened under a burst, kept while
    in use and closed when it passes."""
    # psycopg gives a timestamptz in the session's time zone, which is the server's setting: the
    # session is put in UTC (a startup option, no round trip), so that every moment read back, and
    # every moment the API shows, is in UTC whatever the server is configured with.
    configured = make_url(url).query.get("options")
    options = " ".join([*([configured] if isinstance(configured, str) else configured or []), "-c TimeZone=UTC"])
    engine = create_async_engine(sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size,
                                 pool_timeout=10, connect_args={"options": options})
    _ping_when_idle(engine.sync_engine.pool, engine.dialect)
    return engine


def _ping_when_idle(pool: Pool, dialect: Dialect) -> None:
    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _lent(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool replaces it and tries the next one
            raise DisconnectionError("the connection was lost while idle") from exc


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@contextlib.asynccontextmanager
async def single_statements(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose statements each commit on their own (autocommit): for a lone INSERT or a read
    that needs no transaction around it, it saves the BEGIN and the COMMIT, two round trips of the
    three a one-statement transaction costs."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate_sync(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade_sync(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Apply migrations; alembic drives its own event loop, so it runs in a thread."""
    await asyncio.to_thread(migrate_sync, url, revision)

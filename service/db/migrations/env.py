"""Alembic environment: migrations run on the async engine, one transaction each.

The service passes the database URL in; ``alembic`` run from the project root (``alembic.ini``)
takes it from the settings: ``DATABASE_URL``, or the embedded PostgreSQL, started if need be.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import service.ledger.models  # noqa: F401 - registers the ledger tables on the metadata
from service.db.models import Base

target_metadata = Base.metadata


def _database_url() -> str:
    configured = context.config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    from service.db.engine import resolve_database_url, sqlalchemy_url
    from service.settings import load_settings

    url, _ = asyncio.run(resolve_database_url(load_settings()))
    return sqlalchemy_url(url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        # one migrator at a time when several processes start together
        context.execute("SELECT pg_advisory_xact_lock(7214)")
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(_database_url()))

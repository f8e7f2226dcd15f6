"""A sandbox's own database: created new under a name of its own, dropped only by the one who made it.

``create_new_database`` fails when the name exists (``CREATE DATABASE`` decides, atomically), so a
sandbox never adopts, and so never drops, a database someone else made, even one started at the
same moment under the same name.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from service.db.engine import drop_database, libpq_url

__all__ = ["DatabaseExists", "create_new_database", "drop_database"]


class DatabaseExists(RuntimeError):
    pass


def _maintenance_url(server_url: str) -> str:
    return libpq_url(make_url(server_url).set(database="postgres").render_as_string(hide_password=False))


async def create_new_database(server_url: str, name: str, *, comment: str = "") -> str:
    """Create database ``name`` on the server of ``server_url``; its URL. ``DatabaseExists`` when taken."""
    # CREATE DATABASE cannot run inside a transaction block
    async with await psycopg.AsyncConnection.connect(_maintenance_url(server_url), autocommit=True) as connection:
        try:
            await connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            raise DatabaseExists(name) from None
        if comment:
            await connection.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name),
                                                                                    sql.Literal(comment)))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)

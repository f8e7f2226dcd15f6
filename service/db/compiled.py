"""Statements compiled once, for the hot paths: a job runs the same dozen statements for every customer.

``session.execute(statement)`` computes the statement's cache key on every call (a walk of the whole
statement tree), finds the compiled form in the cache, and processes each parameter and each result
value through its type; for the provisioning run's statements that is about 0.2 ms of CPU each,
as much as the driver's own work (measured: ``bench.statement_costs``). :class:`Compiled` compiles a
Core statement for PostgreSQL once and runs its SQL with ``exec_driver_sql`` on the session's
connection, in the session's transaction. psycopg adapts the values itself (``uuid.UUID``,
``datetime``, ``str``); rows come back with the column names the statement gives them.

For statements with bound parameters only: no expanding ``IN`` (give the values as an array), no
types whose Python value differs from psycopg's (an ``Enum`` column, a ``TypeDecorator``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CursorResult
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement

__all__ = ["Compiled"]

_DIALECT = PGDialectAsync_psycopg()


class Compiled:
    """A Core statement compiled for PostgreSQL once, run as driver SQL in a session's transaction."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
        self.sql = str(compiled)
        # the values written into the statement itself (the 1 of ``attempts + 1``); unnamed bound
        # parameters the caller does not give would be sent as NULL, so they are refused up front
        self._fixed = {name: value for name, value in compiled.params.items() if value is not None}
        self._named = frozenset(name for name, value in compiled.params.items() if value is None)

    def _values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        missing = self._named - given.keys()
        if missing:
            raise TypeError(f"values missing for {', '.join(sorted(missing))}")
        return {**self._fixed, **given}

    async def execute(self, session: AsyncSession, values: Mapping[str, Any]) -> CursorResult[Any]:
        connection = await session.connection()
        return await connection.exec_driver_sql(self.sql, self._values(values))

    async def execute_many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        connection = await session.connection()
        await connection.exec_driver_sql(self.sql, [self._values(row) for row in rows])

"""Hot-path statements sent on the session's own psycopg connection, in its transaction.

A job runs the same dozen statements for every customer. ``session.execute`` walks each through
SQLAlchemy's execution path (the greenlet hop, an execution context, parameter and row processing):
as much client CPU again as psycopg's own work on the statement (``bench.statement_costs``).
:class:`DriverStatement` takes a Core statement, compiled once by SQLAlchemy for psycopg, and sends
its SQL on the driver connection under the session: same transaction, same connection, same pool;
only the per-call machinery is skipped. The types' own bind and result processors (an ARRAY's list,
JSON's text) are applied as SQLAlchemy would; rows come back as named tuples with the column names
the statement gives them. An expanding ``IN``, rendered anew for each call, is refused when the
statement is made: compare with ``any_(array(...))`` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["DriverStatement", "driver_connection"]

_DIALECT = PGDialectAsync_psycopg()
_CONNECTION = "driver_connection"


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under the session's transaction (begun if it was not yet). What the
    session holds but has not flushed yet is flushed first, as ``session.execute`` would."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    transaction = session.sync_session.get_transaction()
    found: tuple[SessionTransaction | None, Any] | None = session.info.get(_CONNECTION)
    if found is None or transaction is None or found[0] is not transaction:
        found = await session.run_sync(_connect)
        session.info[_CONNECTION] = found
    return cast(psycopg.AsyncConnection[Any], found[1])


def _connect(session: Session) -> tuple[SessionTransaction | None, Any]:
    """The session's connection (begun), its transaction and its psycopg connection, in one greenlet hop."""
    connection = session.connection()
    return session.get_transaction(), connection.connection.driver_connection


class DriverStatement:
    """A Core statement compiled for PostgreSQL once, sent on the driver connection of a session."""

    def __init__(self, statement: ClauseElement) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        if any(bind.expanding for bind in binds.values()):
            raise TypeError("an expanding IN is rendered per call; compare with any_(array(...)) instead")
        self.sql = str(compiled)
        # the values the statement holds itself (the 1 of ``attempts + 1``, a NULL it sets)
        self._fixed = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        self._required = frozenset(name for name, bind in binds.items() if bind.required)
        # what SQLAlchemy's types do to a value on the way in and out (a list for an ARRAY, JSON text)
        processors = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)  # keyed by bind name
        self._bind_processors = {name: process for name, process in processors.items() if name not in self._fixed}
        for name, value in self._fixed.items():
            if name in processors:
                self._fixed[name] = processors[name](value)
        self._result_processors = [column[3]._cached_result_processor(_DIALECT, None)  # type: ignore[attr-defined]
                                   for column in compiled._result_columns]
        self._processes_results = any(self._result_processors)

    def _values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        missing = self._required - given.keys()
        if missing:
            raise TypeError(f"values missing for {', '.join(sorted(missing))}")
        values = {**self._fixed, **given}
        for name, process in self._bind_processors.items():
            if name in given:
                values[name] = process(values[name])
        return values

    async def rows(self, session: AsyncSession, values: Mapping[str, Any]) -> list[Any]:
        """The rows, as named tuples."""
        connection = await driver_connection(session)
        async with connection.cursor(row_factory=namedtuple_row) as cursor:
            await cursor.execute(self.sql, self._values(values))
            if cursor.description is None:
                return []
            found = await cursor.fetchall()
        if self._processes_results and found:
            kind = type(found[0])
            processors = self._result_processors
            found = [kind._make([process(value) if process else value  # type: ignore[attr-defined]
                                 for process, value in zip(processors, row, strict=True)]) for row in found]
        return found

    async def first(self, session: AsyncSession, values: Mapping[str, Any]) -> Any | None:
        found = await self.rows(session, values)
        return found[0] if found else None

    async def run(self, session: AsyncSession, values: Mapping[str, Any]) -> None:
        connection = await driver_connection(session)
        await connection.execute(self.sql, self._values(values))

    async def run_many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        connection = await driver_connection(session)
        async with connection.cursor() as cursor:
            await cursor.executemany(self.sql, [self._values(row) for row in rows])

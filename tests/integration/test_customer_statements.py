"""What creating a customer costs the database: one INSERT, whose RETURNING brings back what the
database filled in (the public id, the timestamps); no SELECT of its own afterwards."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event

from service.customers.domain import CustomerType
from service.customers.service import create_customer
from service.db.engine import create_engine, session_factory


async def test_creating_a_customer_is_one_insert_returning_what_the_database_filled_in(database_url: str) -> None:
    engine = create_engine(database_url, 1)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        view = await create_customer(session_factory(engine), email=f"one.insert.{uuid.uuid4().hex[:8]}@example.com",
                                     customer_type=CustomerType.INDIVIDUAL, telegram_id=None)
    finally:
        await engine.dispose()
    assert statements == ["INSERT"]
    assert view.public_id.startswith("C")
    assert view.created_at is not None

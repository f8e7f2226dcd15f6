"""Statements sent on the session's own psycopg connection (``service.db.driver``) against a real
PostgreSQL: they run in the session's transaction (a rollback takes them back, what the session has
not flushed yet is written first), after a commit in the next transaction's connection, and store
what ``session.execute`` would have stored from the same values; a value left out is refused."""

from __future__ import annotations

import uuid
from typing import Any, cast

import pytest
from litestar import Litestar
from sqlalchemy import ARRAY, JSON, Column, Integer, MetaData, String, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.domain import CustomerType
from service.customers.repository import insert_customer
from service.db.driver import DriverStatement, driver_connection
from service.db.models import CustomerRecord, OutboxRecord

pytestmark = pytest.mark.usefixtures("api")

_customers = cast(Table, CustomerRecord.__table__)
_RENAME = DriverStatement(update(_customers).where(_customers.c.id == bindparam("the_customer"))
                          .values(kyc_moderation_comment=bindparam("the_comment"),
                                  kyc_reject_labels=bindparam("the_labels"))
                          .returning(_customers.c.id, _customers.c.kyc_reject_labels))
_READ = DriverStatement(select(_customers.c.kyc_moderation_comment, _customers.c.kyc_reject_labels)
                        .where(_customers.c.id == bindparam("the_customer")))


async def new_customer(session: AsyncSession) -> uuid.UUID:
    record = await insert_customer(session, email=f"driver.{uuid.uuid4().hex[:10]}@example.com",
                                   customer_type=CustomerType.INDIVIDUAL, telegram_id=None)
    return record.id


async def read(app: Litestar, customer_id: uuid.UUID) -> Any:
    async with app.state.sessions() as session:
        return await _READ.first(session, {"the_customer": customer_id})


async def test_a_driver_statement_is_part_of_the_sessions_transaction(app: Litestar) -> None:
    async with app.state.sessions.begin() as session:
        customer_id = await new_customer(session)
    async with app.state.sessions() as session:
        async with session.begin():
            await _RENAME.run(session, {"the_customer": customer_id, "the_comment": "taken back",
                                        "the_labels": ("A",)})
            assert (await _READ.first(session, {"the_customer": customer_id})).kyc_moderation_comment == "taken back"
            await session.rollback()
        assert (await read(app, customer_id)).kyc_moderation_comment is None

        # the next transaction of the same session gets its own connection, not the one given back
        async with session.begin():
            [row] = await _RENAME.rows(session, {"the_customer": customer_id, "the_comment": "kept",
                                                 "the_labels": ("A", "B")})
            assert (row.id, row.kyc_reject_labels) == (customer_id, ["A", "B"])
            sessions_connection = (await (await session.connection()).get_raw_connection()).driver_connection
            assert await driver_connection(session) is sessions_connection
    assert tuple(await read(app, customer_id)) == ("kept", ["A", "B"])


async def test_what_the_session_holds_unflushed_is_written_before_a_driver_statement(app: Litestar) -> None:
    async with app.state.sessions.begin() as session:
        record = CustomerRecord(email=f"driver.{uuid.uuid4().hex[:10]}@example.com",
                                customer_type=CustomerType.BANK.value)
        session.add(record)
        await session.flush()
        record.kyc_client_comment = "set on the object"  # dirty, not flushed
        found = await DriverStatement(select(_customers.c.kyc_client_comment)
                                      .where(_customers.c.id == bindparam("the_customer"))
                                      ).first(session, {"the_customer": record.id})
        assert found is not None
        assert found.kyc_client_comment == "set on the object"


async def test_the_values_sqlalchemy_processes_are_stored_as_session_execute_stores_them(app: Litestar) -> None:
    outbox = cast(Table, OutboxRecord.__table__)
    statement = insert(outbox).values(customer_id=bindparam("the_customer"), event_type=bindparam("the_type"),
                                      payload=bindparam("the_payload")).returning(outbox.c.id)
    payload = {"customer_id": "x", "nested": {"list": [1, 2.5, None, "é"]}, "flag": True}
    async with app.state.sessions.begin() as session:
        customer_id = await new_customer(session)
        values = {"the_customer": customer_id, "the_type": "Probe", "the_payload": payload}
        by_session = (await session.execute(statement, values)).scalar_one()
        by_driver = (await DriverStatement(statement).first(session, values)).id
        stored = dict((await session.execute(select(outbox.c.id, outbox.c.payload)
                                             .where(outbox.c.id.in_([by_session, by_driver])))).all())
    assert stored[by_driver] == stored[by_session] == payload


def test_a_value_left_out_is_refused_and_an_expanding_in_is_refused_when_made() -> None:
    with pytest.raises(TypeError, match="the_labels"):
        _RENAME._values({"the_customer": uuid.uuid4(), "the_comment": "x"})
    table = Table("probe", MetaData(), Column("id", Integer), Column("name", String), Column("tags", ARRAY(String)),
                  Column("doc", JSON))
    with pytest.raises(TypeError, match="expanding IN"):
        DriverStatement(select(table.c.id).where(table.c.name.in_(["a", "b"])))
    fixed = DriverStatement(update(table).where(table.c.id == bindparam("the_id"))
                            .values(name=None, tags=bindparam("the_tags")))
    # the NULL the statement sets goes with it; the ARRAY's tuple becomes the list psycopg sends as an array
    assert fixed._values({"the_id": 1, "the_tags": ("a",)}) == {"name": None, "the_id": 1, "the_tags": ["a"]}

"""The outbox: one function writes an event's row, one reads it back.

A state change and the event it raises are written in one transaction (:func:`write_event` writes
the row in the caller's transaction); the relay publishes committed rows, and the provisioning job
reads them with :func:`read_event`. A job that writes an event and begins its provisioning in the
same transaction (the KYC fold) writes it ``handed_over``: relayed and handled as it is written, so
the relay leaves it alone; the steps it asks for are claimed in that transaction, and a job that
dies before running them leaves them to its retry (or, past the retries, the re-drive).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, func, insert, null
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.driver import DriverStatement
from service.db.models import OutboxRecord
from service.events import EVENT_TYPES, CustomerEvent

__all__ = ["parse_event", "read_event", "write_event"]


_outbox = cast(Table, OutboxRecord.__table__)
# built once and sent on the driver (a Core INSERT, not the session's unit of work): with the relay to
# publish it, or handed over
_WRITE = {handed_over: DriverStatement(insert(_outbox).values(
    customer_id=bindparam("the_customer"), event_type=bindparam("the_type"), payload=bindparam("the_payload"),
    relayed_at=func.now() if handed_over else null(), handled_at=func.now() if handed_over else null()))
    for handed_over in (False, True)}


async def write_event(session: AsyncSession, event: CustomerEvent, *, handed_over: bool = False) -> None:
    await _WRITE[handed_over].run(session, {"the_customer": uuid.UUID(event.customer_id),
                                            "the_type": type(event).__name__,
                                            "the_payload": msgspec.to_builtins(event)})


def read_event(record: OutboxRecord) -> CustomerEvent | None:
    """The typed event of an outbox row; None for a type this service does not know (left alone)."""
    return parse_event(record.event_type, record.payload)


def parse_event(event_type: str, payload: Mapping[str, Any]) -> CustomerEvent | None:
    """The typed event of an outbox row's type and payload (as read by a statement of one's own)."""
    kind = EVENT_TYPES.get(event_type)
    return msgspec.convert(payload, kind) if kind is not None else None

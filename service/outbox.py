"""The outbox: one function writes an event's row, one reads it back.

A state change and the event it raises are written in one transaction (:func:`write_event` adds
the row to the caller's session); the relay publishes committed rows, and the provisioning job
reads them with :func:`read_event`.
"""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import OutboxRecord
from service.events import EVENT_TYPES, CustomerEvent

__all__ = ["read_event", "write_event"]


def write_event(session: AsyncSession, event: CustomerEvent) -> None:
    session.add(OutboxRecord(customer_id=uuid.UUID(event.customer_id), event_type=type(event).__name__,
                             payload=msgspec.to_builtins(event)))


def read_event(record: OutboxRecord) -> CustomerEvent | None:
    """The typed event of an outbox row; None for a type this service does not know (left alone)."""
    kind = EVENT_TYPES.get(record.event_type)
    return msgspec.convert(record.payload, kind) if kind is not None else None

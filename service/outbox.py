"""The outbox: one function writes an event's row, one reads it back.

A state change and the event it raises are written in one transaction (:func:`write_event` adds
the row to the caller's session); the relay publishes committed rows, and the provisioning job
reads them with :func:`read_event`. A job that writes an event and begins its provisioning in the
same transaction (the KYC fold) writes it ``handed_over``: relayed and handled as it is written, so
the relay leaves it alone; the steps it asks for are claimed in that transaction, and a job that
dies before running them leaves them to its retry (or, past the retries, the re-drive).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import msgspec
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import OutboxRecord
from service.events import EVENT_TYPES, CustomerEvent

__all__ = ["parse_event", "read_event", "write_event"]


def write_event(session: AsyncSession, event: CustomerEvent, *, handed_over: bool = False) -> None:
    moment = func.now() if handed_over else None
    session.add(OutboxRecord(customer_id=uuid.UUID(event.customer_id), event_type=type(event).__name__,
                             payload=msgspec.to_builtins(event), relayed_at=moment, handled_at=moment))


def read_event(record: OutboxRecord) -> CustomerEvent | None:
    """The typed event of an outbox row; None for a type this service does not know (left alone)."""
    return parse_event(record.event_type, record.payload)


def parse_event(event_type: str, payload: Mapping[str, Any]) -> CustomerEvent | None:
    """The typed event of an outbox row's type and payload (as read by a statement of one's own)."""
    kind = EVENT_TYPES.get(event_type)
    return msgspec.convert(payload, kind) if kind is not None else None

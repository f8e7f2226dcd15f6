"""The audit log: every authorisation decision, allowed or denied, in its own transaction.

The decision is committed before the request goes on, so it is kept even when the request then
fails. The table is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

import msgspec
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.db.driver import DriverStatement
from service.db.engine import single_statements
from service.db.models import AuditRecord

__all__ = ["AuditEntry", "recent_decisions", "record_decision"]

Decision = Literal["allowed", "denied"]


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: datetime
    subject: str
    action: str
    object: str
    decision: str
    reason: str | None
    request_id: str | None


# built once and sent on the driver (``service.db.driver``): a guarded request's first statement
_RECORD = DriverStatement(insert(cast(Table, AuditRecord.__table__)).values(
    subject=bindparam("the_subject"), action=bindparam("the_action"), object=bindparam("the_object"),
    decision=bindparam("the_decision"), reason=bindparam("the_reason"), request_id=bindparam("the_request")))


async def record_decision(sessions: async_sessionmaker[AsyncSession], *, subject: str, action: str, object: str,
                          decision: Decision, reason: str | None = None, request_id: str | None = None) -> None:
    async with single_statements(sessions) as session:  # one INSERT, committed before the request goes on
        await _RECORD.run(session, {"the_subject": subject, "the_action": action, "the_object": object,
                                    "the_decision": decision, "the_reason": reason, "the_request": request_id})


async def recent_decisions(session: AsyncSession, *, subject: str | None = None, request_id: str | None = None,
                           limit: int = 100) -> list[AuditEntry]:
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(AuditRecord.subject == subject)
    if request_id is not None:
        query = query.where(AuditRecord.request_id == request_id)
    rows = (await session.scalars(query)).all()
    return [AuditEntry(r.id, r.at, r.subject, r.action, r.object, r.decision, r.reason, r.request_id) for r in rows]

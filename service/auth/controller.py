"""The audit log, for operators allowed to read it."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import QueryParameter

from service.auth.audit import AuditEntry, recent_decisions
from service.auth.guards import requires
from service.auth.permissions import Permission
from service.dependencies import Sessions
from service.openapi import OPERATOR, operator_problems

__all__ = ["audit_log"]


@get("/api/audit", guards=[requires(Permission.AUDIT_READ)], tags=["audit"],
     summary="Recent authorisation decisions, newest first", operation_id="listAuditDecisions", security=OPERATOR,
     responses=operator_problems(422))
async def audit_log(
    sessions: Sessions,
    subject: Annotated[str | None, QueryParameter(max_length=256, description="only this subject's")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
) -> list[AuditEntry]:
    async with sessions() as session:
        return await recent_decisions(session, subject=subject, limit=limit)

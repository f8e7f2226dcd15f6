"""The callback inbox: one row per distinct callback, under a UNIQUE idempotency key."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import KycCallbackRecord
from service.kyc.domain import Callback

__all__ = ["store_callback"]


async def store_callback(session: AsyncSession, key: str, callback: Callback, payload: dict[str, Any]) -> int | None:
    """Insert the callback in one statement; its row id, or None when it was already there."""
    statement = (
        insert(KycCallbackRecord)
        .values(idempotency_key=key, type=callback.type, external_user_id=callback.external_user_id,
                applicant_id=callback.applicant_id, event_created_at=callback.created_at, payload=payload)
        .on_conflict_do_nothing(index_elements=[KycCallbackRecord.idempotency_key])
        .returning(KycCallbackRecord.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()

"""The callback inbox: one row per distinct callback, under a UNIQUE idempotency key.

This is the webhook's whole database work, so it is one statement on a plain asyncpg pool: no ORM
unit of work, no transaction block, no enqueue (a relay in the worker turns new rows into jobs).
"""

from __future__ import annotations

import asyncpg

from service.kyc.domain import Callback

__all__ = ["store_callback"]

_INSERT = """
    INSERT INTO kyc_callbacks (idempotency_key, type, external_user_id, applicant_id, event_created_at, payload)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
"""


async def store_callback(pool: asyncpg.Pool, key: str, callback: Callback, body: bytes) -> int | None:
    """Store the callback with its body as received; its row id, or None when it was already there."""
    row_id = await pool.fetchval(_INSERT, key, callback.type, callback.external_user_id, callback.applicant_id,
                                 callback.created_at, body.decode())
    return None if row_id is None else int(row_id)

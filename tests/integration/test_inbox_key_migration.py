"""Migration 0006 bounds the inbox's idempotency keys without losing what they identify."""

from __future__ import annotations

import json
import os
import secrets

import psycopg
from psycopg.rows import dict_row

from service.db.engine import drop_database, ensure_database, libpq_url, migrate
from service.kyc.domain import decode_callback, idempotency_key
from tests.support.databases import server_url


async def test_keys_stored_before_the_bound_get_the_digest_intake_now_computes() -> None:
    name = f"test_0006_{os.getpid()}_{secrets.token_hex(3)}"
    url = await ensure_database(await server_url(), name)
    try:
        await migrate(url, "0005")
        short = {"type": "applicantPending", "correlationId": "abc", "createdAtMs": "2026-05-04 09:12:40.118"}
        long = {**short, "correlationId": "c" * 1000}
        async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as connection:
            for payload in (short, long):
                await connection.execute(
                    "INSERT INTO kyc_callbacks (idempotency_key, type, payload) VALUES (%s, %s, %s::jsonb)",
                    (":".join(payload.values()), payload["type"], json.dumps(payload)))

        await migrate(url)

        async with await psycopg.AsyncConnection.connect(libpq_url(url), row_factory=dict_row) as connection:
            cursor = await connection.execute("SELECT idempotency_key, correlation_id, created_at_ms "
                                              "FROM kyc_callbacks ORDER BY id")
            rows = await cursor.fetchall()
        for payload, row in zip((short, long), rows, strict=True):
            raw = json.dumps(payload).encode()
            assert row["idempotency_key"] == idempotency_key(decode_callback(raw), raw)
            assert row["correlation_id"] == payload["correlationId"][:128]
            assert row["created_at_ms"] == payload["createdAtMs"]
    finally:
        await drop_database(url, name)

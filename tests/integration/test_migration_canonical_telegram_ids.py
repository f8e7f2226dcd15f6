"""Migration 0007 rewrites stored Telegram ids to their one spelling, keeping the older of two rows
that name one account."""

from __future__ import annotations

import os
import secrets

import psycopg

from service.db.engine import drop_database, ensure_database, libpq_url, migrate
from tests.support.databases import server_url


async def test_stored_ids_take_their_canonical_spelling_unless_another_row_has_it() -> None:
    name = f"telegram_{os.getpid()}_{secrets.token_hex(3)}"
    url = await ensure_database(await server_url(), name)
    try:
        await migrate(url, "0005")
        connection = await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True)
        try:
            columns = "id, email, customer_type, kyc_status, verification_status, kyc_level, activity_status"
            values = ("gen_random_uuid(), %s, 'individual', 'not_started', 'pending_verification', 'not_kyced', "
                      "'inactive'")
            for n, (email, telegram_id) in enumerate([("a@example.com", "0012345"), ("b@example.com", "12345"),
                                                      ("c@example.com", "@Ada_Lovelace"), ("d@example.com", None),
                                                      ("e@example.com", "0099")]):
                await connection.execute(
                    f"INSERT INTO customers ({columns}, telegram_id, created_at) "  # noqa: S608 - constants
                    f"VALUES ({values}, %s, now() + make_interval(secs => %s))", (email, telegram_id, n))
            await migrate(url, "0007")
            cursor = await connection.execute("SELECT email, telegram_id FROM customers")
            stored = dict(await cursor.fetchall())
            # 12345 is already b's: a keeps the spelling it was created under, and nothing is lost
            assert stored == {"a@example.com": "0012345", "b@example.com": "12345",
                              "c@example.com": "ada_lovelace", "d@example.com": None, "e@example.com": "99"}
        finally:
            await connection.close()
    finally:
        await drop_database(url, name)

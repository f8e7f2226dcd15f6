"""Every migration can be reverted and applied again, on an empty database and on one holding a row
in every table, and ``alembic`` works from the project root on the service's own settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from service.customers.domain import CustomerType
from service.customers.repository import insert_customer
from service.db.engine import alembic_config, create_engine, downgrade_sync, migrate, session_factory
from service.db.models import AuditRecord, CustomerRecord, KycCallbackRecord, OutboxRecord, ProvisioningStepRecord
from service.ledger.repository import open_deposit_account, record_deposit
from tests.support.databases import scratch_database

REPOSITORY = Path(__file__).resolve().parents[2]


def _revisions(url: str) -> list[str]:
    """Oldest first."""
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(alembic_config(url))
                                                        .walk_revisions()))]


async def _tables(url: str) -> set[str]:
    engine = create_engine(url, 1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def _downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(downgrade_sync, url, revision)


async def test_every_migration_reverts_and_reapplies_on_an_empty_database() -> None:
    async with scratch_database("migrations") as url:
        at_head = await _tables(url)
        await _downgrade(url, "base")
        assert await _tables(url) <= {"alembic_version"}
        for revision in _revisions(url):
            await migrate(url, revision)
            await _downgrade(url, "-1")
            await migrate(url, revision)
        assert await _tables(url) == at_head


async def _populate(url: str) -> None:
    engine = create_engine(url, 2)
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            for number, customer_type in enumerate((CustomerType.INDIVIDUAL, CustomerType.BANK)):
                customer = await insert_customer(session, email=f"m{number}@example.com", customer_type=customer_type,
                                                 telegram_id=f"@m{number}")
                await open_deposit_account(session, customer.id, customer_type)
                await record_deposit(session, customer.id, 1_000 + number)
                session.add(ProvisioningStepRecord(customer_id=customer.id, step="deposit_account", status="done"))
                session.add(OutboxRecord(customer_id=customer.id, event_type="CustomerKycUpdated",
                                         payload={"customer_id": str(customer.id)}))
                session.add(KycCallbackRecord(idempotency_key=f"applicantReviewed:c-{number}", type="applicantReviewed",
                                              external_user_id=str(customer.id), payload={"type": "applicantReviewed"}))
                session.add(AuditRecord(subject="operator", action="CUSTOMER_CREATE", object="/api/customers",
                                        decision="allowed"))
    finally:
        await engine.dispose()


async def _customers(url: str) -> int:
    engine = create_engine(url, 1)
    try:
        async with session_factory(engine)() as session:
            return int(await session.scalar(select(func.count()).select_from(CustomerRecord)) or 0)
    finally:
        await engine.dispose()


async def test_every_migration_reverts_and_reapplies_on_a_populated_database() -> None:
    async with scratch_database("migrations") as url:
        await _populate(url)
        revisions = _revisions(url)
        # from the newest down: revert it and apply it again with the data of the older ones in place,
        # then revert it for good and go on with the one before
        for revision in reversed(revisions):
            await _downgrade(url, "-1")
            await migrate(url, revision)
            await _downgrade(url, "-1")
            if revision != revisions[0]:
                assert await _customers(url) == 2, f"customers lost reverting {revision}"
        await migrate(url)
        assert await _customers(url) == 0


async def test_alembic_runs_from_the_project_root_on_the_service_settings() -> None:
    async with scratch_database("migrations") as url:
        environment = {**os.environ, "DATABASE_URL": url, "ENV_FILE": os.devnull}

        def alembic(*args: str) -> str:
            done = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=REPOSITORY, env=environment,  # noqa: S603
                                  capture_output=True, text=True, timeout=120, check=True)
            return done.stdout

        head = _revisions(url)[-1]
        assert f"{head} (head)" in await asyncio.to_thread(alembic, "current")
        assert "customers and audit log" in await asyncio.to_thread(alembic, "history")
        await asyncio.to_thread(alembic, "downgrade", "-1")
        assert (await asyncio.to_thread(alembic, "current")).strip() == _revisions(url)[-2]
        await asyncio.to_thread(alembic, "upgrade", "head")
        assert f"{head} (head)" in await asyncio.to_thread(alembic, "current")

"""Jobs retry until they succeed: a step whose job was lost is started again by the re-drive."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar
from saq import Worker
from sqlalchemy import update

from service.db.models import CustomerRecord, ProvisioningStepRecord
from service.ledger.repository import deposit_account
from service.provisioning.jobs import redrive_provisioning
from service.provisioning.plan import Step
from service.provisioning.steps import want
from service.settings import Settings
from service.worker_context import WorkerResources
from tests.support.waiting import eventually


@pytest.mark.usefixtures("api")
async def test_a_step_left_pending_by_a_lost_job_is_redriven(app: Litestar, settings: Settings, worker: Worker,
                                                              api: httpx.AsyncClient,
                                                              as_operator: dict[str, str]) -> None:
    created = await api.post("/api/customers", headers=as_operator, json={
        "email": f"redrive.{uuid.uuid4().hex[:10]}@example.com", "customer_type": "government_entity"})
    customer_id = uuid.UUID(created.json()["id"])
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.job_backoff_max_seconds + 60)
    async with app.state.sessions.begin() as session:
        # as if the job that was to open the account had been lost with the queue
        await want(session, customer_id, [Step.DEPOSIT_ACCOUNT])
        await session.execute(update(ProvisioningStepRecord).where(ProvisioningStepRecord.customer_id == customer_id)
                              .values(updated_at=long_ago))

    resources = WorkerResources(settings=settings, sessions=app.state.sessions, queue=worker.queue, directory=None)
    assert await redrive_provisioning({"resources": resources, "worker": worker}) >= 1  # type: ignore[typeddict-unknown-key]

    async def step_status() -> str:
        async with app.state.sessions() as session:
            row = await session.get(ProvisioningStepRecord, (customer_id, Step.DEPOSIT_ACCOUNT.value))
            return row.status if row else "missing"
    await eventually(step_status, until=lambda status: status == "done", what="the re-driven step done")
    async with app.state.sessions() as session:
        account = await deposit_account(session, customer_id)
        customer = await session.get(CustomerRecord, customer_id)
    assert account.account_set == "deposit-government-entity-account-set"
    assert customer is not None
    assert customer.activity_status == "inactive"  # one step of three: no activation

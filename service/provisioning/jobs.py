"""Provisioning as jobs: one job per outbox event, and the re-drive that keeps steps retrying until
they succeed. Retries, backoff and timeouts come from ``service.queue.job_options``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from saq import CronJob, Queue
from saq.types import Context
from sqlalchemy import select

from service import clock
from service.db.models import OutboxRecord, ProvisioningStepRecord
from service.provisioning.plan import StepStatus
from service.provisioning.runner import provision
from service.queue import JobRequest, enqueue_all
from service.settings import Settings
from service.worker_context import resources

__all__ = ["PROVISIONING_JOBS", "enqueue_outbox_event", "enqueue_outbox_events", "provision_customer",
           "provisioning_cron_jobs", "redrive_provisioning"]

log = structlog.get_logger(__name__)


async def provision_customer(ctx: Context, *, outbox_id: int | None = None,
                             customer_id: str | None = None) -> dict[str, Any]:
    """Handle an outbox event (or, re-driven, a customer's unfinished steps): every step it needs."""
    job = ctx.get("job")
    run = await provision(resources(ctx), outbox_id=outbox_id,
                          customer_id=uuid.UUID(customer_id) if customer_id else None,
                          final=job is None or not job.retryable)
    return {"customer_id": str(run.customer_id) if run.customer_id else None, "events": run.events_handled,
            "steps": run.ended}


async def enqueue_outbox_event(queue: Queue, settings: Settings, outbox_id: int) -> None:
    """The outbox id is the job key: relaying the same row twice enqueues one job."""
    await enqueue_outbox_events(queue, settings, [[outbox_id]])


async def enqueue_outbox_events(queue: Queue, settings: Settings, by_customer: list[list[int]]) -> None:
    """One job for the events of each customer: the job of the newest handles every earlier one too, in
    order. All in one round trip on the Postgres queue."""
    await enqueue_all(queue, settings, [_provisioning_job(max(outbox_ids)) for outbox_ids in by_customer])


def _provisioning_job(outbox_id: int) -> JobRequest:
    return JobRequest(provision_customer, f"outbox:{outbox_id}", {"outbox_id": outbox_id})


async def redrive_provisioning(ctx: Context) -> int:
    """Jobs retry until they succeed: what a lost job or exhausted retries left behind is started again.

    Outbox events relayed but not handled for a minute, and steps still pending or failed after the
    longest backoff, get a fresh job (a new key, so a finished job of the old key does not stop it).
    """
    worker = resources(ctx)
    now = clock.now()
    async with worker.sessions() as session:
        events = (await session.scalars(
            select(OutboxRecord.id).where(OutboxRecord.handled_at.is_(None), OutboxRecord.relayed_at.is_not(None),
                                          OutboxRecord.relayed_at < now - timedelta(minutes=1)).limit(500)
        )).all()
        stalled = (await session.scalars(
            select(ProvisioningStepRecord.customer_id).distinct()
            .where(ProvisioningStepRecord.status.in_((StepStatus.PENDING.value, StepStatus.FAILED.value)),
                   ProvisioningStepRecord.updated_at
                   < now - timedelta(seconds=worker.settings.job_backoff_max_seconds))
            .limit(500)
        )).all()
    round_ = int(now.timestamp())
    await enqueue_all(worker.queue, worker.settings, [
        *(_provisioning_job(outbox_id) for outbox_id in events),
        *(JobRequest(provision_customer, f"provision:{customer_id}:redrive-{round_}", {"customer_id": str(customer_id)})
          for customer_id in stalled)])
    if events or stalled:
        log.warning("provisioning.redriven", events=len(events), customers=len(stalled))
    return len(events) + len(stalled)


def provisioning_cron_jobs() -> list[CronJob[Any]]:
    return [CronJob(redrive_provisioning, cron="* * * * *", timeout=60)]


PROVISIONING_JOBS = [provision_customer]

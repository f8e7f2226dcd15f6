"""SAQ jobs of the KYC inbox, and how they are enqueued (timeouts and retries from ``job_options``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from saq import CronJob, Queue
from saq.types import Context
from sqlalchemy import select

from service import clock
from service.db.engine import single_statements
from service.db.models import KycCallbackRecord
from service.kyc.domain import CallbackStatus
from service.kyc.processing import ProcessingResult, process_callbacks, record_failure
from service.provisioning.runner import StepsBusy, StepsFailed, carry_out, provision
from service.queue import JobRequest, enqueue_all
from service.settings import Settings
from service.worker_context import resources

__all__ = ["enqueue_callback", "enqueue_callbacks", "kyc_cron_jobs", "process_kyc_callback", "sweep_kyc_inbox"]

log = structlog.get_logger(__name__)

STUCK_AFTER = timedelta(seconds=30)


async def enqueue_callback(queue: Queue, settings: Settings, callback_id: int) -> None:
    await enqueue_callbacks(queue, settings, [[callback_id]])


async def enqueue_callbacks(queue: Queue, settings: Settings, by_customer: list[list[int]]) -> None:
    """One job for the callbacks of each customer, keyed by the newest (its id is the key, so a second
    enqueue is a no-op): the fold of the newest takes every callback of the customer since the last.
    All in one round trip on the Postgres queue."""
    await enqueue_all(queue, settings, [_fold_job(callback_ids) for callback_ids in by_customer])


def _fold_job(callback_ids: list[int]) -> JobRequest:
    newest = max(callback_ids)
    earlier = sorted(set(callback_ids) - {newest})
    return JobRequest(process_kyc_callback, f"kyc-callback:{newest}",
                      {"callback_id": newest, **({"earlier": earlier} if earlier else {})})


async def process_kyc_callback(ctx: Context, *, callback_id: int, earlier: list[int] | None = None) -> dict[str, Any]:
    """Fold the customer's callbacks up to ``callback_id``; ``earlier`` ones the fold did not take (an
    orphan, say) are processed on their own. Then the provisioning the fold's events ask for, in this
    same job: the fold writes them handed over and claims their steps in its own transaction
    (``service.outbox``, ``begin_for_events``), so no second job is queued for them. A step that fails
    makes the job retry with backoff, and the retry (its fold finds nothing new) takes up the
    customer's provisioning where it stopped."""
    worker = resources(ctx)
    job = ctx.get("job")
    results = [await _process(ctx, callback_id)]
    if earlier:
        async with single_statements(worker.sessions) as session:
            left = (await session.scalars(select(KycCallbackRecord.id).where(
                KycCallbackRecord.id.in_(earlier), KycCallbackRecord.status == CallbackStatus.RECEIVED.value))).all()
        for other in left:
            results.append(await _process(ctx, other))
    final = job is None or not job.retryable
    steps: dict[str, str] = {}
    left_to_do: list[StepsFailed | StepsBusy] = []  # each customer's steps are run, whatever another's did
    for started in [r.provisioning for r in results if r.provisioning is not None]:
        try:
            steps.update((await carry_out(worker, started, final=final)).ended)
        except (StepsFailed, StepsBusy) as exc:
            left_to_do.append(exc)
    if job is not None and job.attempts > 1:  # a retry: whatever an earlier attempt began and did not finish
        for customer_id in dict.fromkeys(r.customer_id for r in results if r.customer_id):
            try:
                steps.update((await provision(worker, customer_id=customer_id, final=final)).ended)
            except (StepsFailed, StepsBusy) as exc:
                left_to_do.append(exc)
    if left_to_do:
        raise left_to_do[0]  # the job is retried with backoff
    result = results[0]
    return {"customer_id": str(result.customer_id) if result.customer_id else None,
            "processed": sum(r.processed for r in results), "changed": any(r.changed for r in results),
            "steps": steps}


async def _process(ctx: Context, callback_id: int) -> ProcessingResult:
    worker = resources(ctx)
    job = ctx.get("job")
    try:
        return await process_callbacks(worker.sessions, worker.settings, callback_id, hand_over=True)
    except Exception as exc:
        final = job is None or not job.retryable
        await record_failure(worker.sessions, callback_id, f"{type(exc).__name__}: {exc}", final=final)
        log.exception("kyc.callback_failed", callback_id=callback_id, final=final)
        raise


async def sweep_kyc_inbox(ctx: Context) -> int:
    """Re-enqueue callbacks still waiting after a while: an enqueue lost after the inbox commit."""
    worker = resources(ctx)
    cutoff = clock.now() - STUCK_AFTER
    async with worker.sessions() as session:
        ids = (await session.scalars(
            select(KycCallbackRecord.id)
            .where(KycCallbackRecord.status == CallbackStatus.RECEIVED.value, KycCallbackRecord.received_at < cutoff)
            .order_by(KycCallbackRecord.id).limit(500)
        )).all()
    await enqueue_callbacks(worker.queue, worker.settings, [[callback_id] for callback_id in ids])
    if ids:
        log.warning("kyc.inbox_swept", count=len(ids))
    return len(ids)


def kyc_cron_jobs() -> list[CronJob[Any]]:
    return [CronJob(sweep_kyc_inbox, cron="* * * * *", timeout=60)]

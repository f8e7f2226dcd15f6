"""SAQ jobs of the KYC inbox, and how they are enqueued (timeouts and retries set here, explicitly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from saq import CronJob, Queue
from sqlalchemy import select

from service.db.models import KycCallbackRecord
from service.kyc.processing import process_callbacks, record_failure
from service.queue import job_options
from service.settings import Settings

__all__ = ["enqueue_callback", "kyc_cron_jobs", "process_kyc_callback", "sweep_kyc_inbox"]

log = structlog.get_logger(__name__)

STUCK_AFTER = timedelta(seconds=30)


async def enqueue_callback(queue: Queue, settings: Settings, callback_id: int) -> None:
    """One job per inbox row (its id is the job key, so a second enqueue is a no-op)."""
    await queue.enqueue("process_kyc_callback", key=f"kyc-callback:{callback_id}", callback_id=callback_id,
                        **job_options(settings))


async def process_kyc_callback(ctx: dict[str, Any], *, callback_id: int) -> dict[str, Any]:
    job = ctx.get("job")
    try:
        result = await process_callbacks(ctx["sessions"], ctx["settings"], callback_id)
    except Exception as exc:
        final = job is None or not job.retryable
        await record_failure(ctx["sessions"], callback_id, f"{type(exc).__name__}: {exc}", final=final)
        log.exception("kyc.callback_failed", callback_id=callback_id, final=final)
        raise
    return {"customer_id": str(result.customer_id) if result.customer_id else None,
            "processed": result.processed, "changed": result.changed}


async def sweep_kyc_inbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue callbacks still waiting after a while: an enqueue lost after the inbox commit."""
    cutoff = datetime.now(UTC) - STUCK_AFTER
    async with ctx["sessions"]() as session:
        ids = (await session.scalars(
            select(KycCallbackRecord.id)
            .where(KycCallbackRecord.status == "received", KycCallbackRecord.received_at < cutoff)
            .order_by(KycCallbackRecord.id).limit(500)
        )).all()
    for callback_id in ids:
        await enqueue_callback(ctx["worker"].queue, ctx["settings"], callback_id)
    if ids:
        log.warning("kyc.inbox_swept", count=len(ids))
    return len(ids)


def kyc_cron_jobs() -> list[CronJob[Any]]:
    return [CronJob(sweep_kyc_inbox, cron="* * * * *", timeout=60)]

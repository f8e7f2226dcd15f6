"""Provisioning as jobs. Two hops: an outbox event becomes command jobs; each command job makes one
external change, safe to repeat, and records its step. Retries, backoff and timeouts are set here.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from saq import CronJob, Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.customers.domain import ActivityStatus, CustomerType, KycStatus
from service.db.models import CustomerRecord, OutboxRecord, ProvisioningStepRecord
from service.events import CUSTOMER_DEACTIVATED, CUSTOMER_KYC_UPDATED
from service.ledger.domain import AccountNotFound
from service.ledger.repository import freeze_deposit_account, open_deposit_account
from service.provisioning.directory import CustomerDirectory, DirectoryError
from service.provisioning.steps import (
    Step,
    activate_when_provisioned,
    mark_attempt,
    mark_done,
    mark_pending,
    step_state,
)
from service.provisioning.welcome_email import compose_welcome_email, new_temporary_password, send_email
from service.queue import job_options
from service.settings import Settings

__all__ = ["PROVISIONING_JOBS", "enqueue_outbox_event", "handle_outbox_event", "provisioning_cron_jobs",
           "redrive_provisioning"]

log = structlog.get_logger(__name__)



async def enqueue_outbox_event(queue: Queue, settings: Settings, outbox_id: int) -> None:
    """The outbox id is the job key: relaying the same row twice enqueues one job."""
    await queue.enqueue("handle_outbox_event", key=f"outbox:{outbox_id}", outbox_id=outbox_id, **job_options(settings))


async def _enqueue_step(queue: Queue, settings: Settings, step: Step, customer_id: uuid.UUID,
                        cause: int | str) -> None:
    await queue.enqueue(
        f"run_{step.value}",
        key=f"{step.value}:{customer_id}:{cause}",
        customer_id=str(customer_id),
        **job_options(settings),
    )


def _commands(event: OutboxRecord) -> list[Step]:
    payload = event.payload
    if payload.get("activity_status") == ActivityStatus.SUSPENDED.value or event.event_type == CUSTOMER_DEACTIVATED:
        return [Step.KEYCLOAK_DISABLED, Step.DEPOSIT_FROZEN]
    if event.event_type == CUSTOMER_KYC_UPDATED and payload.get("kyc_status") == KycStatus.APPROVED.value:
        return [Step.KEYCLOAK_USER, Step.DEPOSIT_ACCOUNT]
    return []


async def handle_outbox_event(ctx: dict[str, Any], *, outbox_id: int) -> int:
    """Turn this event, and any earlier unhandled one of the same customer, into command jobs, in order."""
    sessions: async_sessionmaker[AsyncSession] = ctx["sessions"]
    settings: Settings = ctx["settings"]
    queue: Queue = ctx["worker"].queue
    async with sessions.begin() as session:
        event = await session.get(OutboxRecord, outbox_id)
        if event is None or event.handled_at is not None:
            return 0
        # the customer's row lock orders the handling of one customer's events across workers
        await session.execute(select(CustomerRecord.id).where(CustomerRecord.id == event.customer_id).with_for_update())
        pending = (
            await session.scalars(
                select(OutboxRecord)
                .where(
                    OutboxRecord.customer_id == event.customer_id,
                    OutboxRecord.id <= outbox_id,
                    OutboxRecord.handled_at.is_(None),
                )
                .order_by(OutboxRecord.id)
            )
        ).all()
        for earlier in pending:
            for step in _commands(earlier):
                await mark_pending(session, earlier.customer_id, step)
                # enqueued before the commit: a failed commit retries this job, and the keys dedupe
                await _enqueue_step(queue, settings, step, earlier.customer_id, earlier.id)
            earlier.handled_at = datetime.now(UTC)
        log.info("outbox.handled", customer_id=str(event.customer_id), events=len(pending))
        return len(pending)


@dataclass(frozen=True)
class StepContext:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    customer: CustomerRecord
    worker_ctx: dict[str, Any]

    @property
    def directory(self) -> CustomerDirectory:
        """One Keycloak connection per worker process, made at its start (so its token is reused)."""
        directory = self.worker_ctx.get("directory")
        if directory is None:
            raise DirectoryError("no Keycloak service account: set KEYCLOAK_CLIENT_ID and KEYCLOAK_CLIENT_SECRET")
        return directory  # type: ignore[no-any-return]


StepAction = Callable[[StepContext], Awaitable[str | None]]
# the welcome email carries a password set on the Keycloak user: it can only follow that user
FOLLOW_UPS = {Step.KEYCLOAK_USER: Step.WELCOME_EMAIL}


async def _follow_up(ctx: dict[str, Any], session: AsyncSession, customer_id: uuid.UUID, step: Step) -> None:
    """Want the step that must come after ``step``, and enqueue it (keyed, so repeating is harmless)."""
    if step in FOLLOW_UPS:
        await mark_pending(session, customer_id, FOLLOW_UPS[step])
        await _enqueue_step(ctx["worker"].queue, ctx["settings"], FOLLOW_UPS[step], customer_id, 0)


async def _run_step(ctx: dict[str, Any], customer_id: str, step: Step, action: StepAction) -> str:
    """Run one command unless it is done; record success or the failed attempt on the step."""
    sessions: async_sessionmaker[AsyncSession] = ctx["sessions"]
    key = uuid.UUID(customer_id)
    async with sessions.begin() as session:
        state = await step_state(session, key, step)
        customer = await session.get(CustomerRecord, key)
        if state is not None and state.status == "done":
            # a worker that died between this step's commit and its follow-up leaves the follow-up here
            await _follow_up(ctx, session, key, step)
            return "already done"
    if customer is None:
        return "no such customer"
    try:
        external_ref = await action(StepContext(sessions, ctx["settings"], customer, ctx))
        async with sessions.begin() as session:
            # the customer first, as every other transaction that touches steps and the customer does
            await session.execute(select(CustomerRecord.id).where(CustomerRecord.id == key).with_for_update())
            await mark_done(session, key, step, external_ref)
            await _follow_up(ctx, session, key, step)
            activated = await activate_when_provisioned(session, key)
    except Exception as exc:
        job = ctx.get("job")
        final = job is None or not job.retryable
        async with sessions.begin() as session:
            await mark_attempt(session, key, step, f"{type(exc).__name__}: {exc}", final=final)
        log.warning(
            "provisioning.step_failed", customer_id=customer_id, step=step.value, final=final, error=type(exc).__name__
        )
        raise
    log.info("provisioning.step_done", customer_id=customer_id, step=step.value, activated=activated)
    return "done"


async def _is_suspended(step: StepContext) -> bool:
    """Read now, not at the job's start: a suspension may have been committed meanwhile."""
    async with step.sessions() as session:
        status = await session.scalar(select(CustomerRecord.activity_status)
                                      .where(CustomerRecord.id == step.customer.id))
    return status == ActivityStatus.SUSPENDED.value


SKIPPED_SUSPENDED = "skipped: customer suspended"


async def _keycloak_user(step: StepContext) -> str | None:
    if await _is_suspended(step):
        return SKIPPED_SUSPENDED
    login = await step.directory.ensure_login(str(step.customer.id), step.customer.email)
    if await _is_suspended(step):
        # suspended while the user was being made: the disable job may have found no user to disable
        await step.directory.disable_login(str(step.customer.id))
    return login.user_id


async def _welcome_email(step: StepContext) -> str | None:
    if await _is_suspended(step):
        return SKIPPED_SUSPENDED  # no credentials for a customer who may not log in
    async with step.sessions() as session:
        login = await step_state(session, step.customer.id, Step.KEYCLOAK_USER)
    if login is None or login.status != "done" or not login.external_ref or login.external_ref == SKIPPED_SUSPENDED:
        raise RuntimeError("the customer's Keycloak user is not made yet")
    password = new_temporary_password()
    await step.directory.set_temporary_password(login.external_ref, password)
    message = compose_welcome_email(
        sender=step.settings.smtp_sender,
        to=step.customer.email,
        username=step.customer.email,
        password=password,
        portal_url=step.settings.portal_url,
    )
    await send_email(step.settings, message)
    return str(message["Message-ID"])


async def _deposit_account(step: StepContext) -> str | None:
    async with step.sessions.begin() as session:
        # under the customer's lock: a suspension is either before (the account opens frozen) or after
        # (and the freeze job finds the account)
        customer = await session.scalar(select(CustomerRecord).where(CustomerRecord.id == step.customer.id)
                                        .with_for_update())
        account = await open_deposit_account(session, step.customer.id, CustomerType(step.customer.customer_type))
        if customer is not None and customer.activity_status == ActivityStatus.SUSPENDED.value:
            await freeze_deposit_account(session, step.customer.id)
    return str(account.id)


async def _keycloak_disabled(step: StepContext) -> str | None:
    return await step.directory.disable_login(str(step.customer.id))


async def _deposit_frozen(step: StepContext) -> str | None:
    try:
        async with step.sessions.begin() as session:
            await session.execute(select(CustomerRecord.id).where(CustomerRecord.id == step.customer.id)
                                  .with_for_update())
            await freeze_deposit_account(session, step.customer.id)
    except AccountNotFound:
        return None  # nothing to freeze yet: the account job opens it frozen
    return "frozen"


def _job(step: Step, action: StepAction) -> Callable[..., Awaitable[str]]:
    async def job(ctx: dict[str, Any], *, customer_id: str) -> str:
        return await _run_step(ctx, customer_id, step, action)

    job.__name__ = job.__qualname__ = f"run_{step.value}"
    return job


async def redrive_provisioning(ctx: dict[str, Any]) -> int:
    """Jobs retry until they succeed: what a lost job or exhausted retries left behind is started again.

    Outbox events relayed but not handled for a minute, and steps still pending or failed after the
    longest backoff, get a fresh job (a new key, so a finished job of the old key does not stop it).
    """
    sessions: async_sessionmaker[AsyncSession] = ctx["sessions"]
    settings: Settings = ctx["settings"]
    queue: Queue = ctx["worker"].queue
    now = datetime.now(UTC)
    async with sessions() as session:
        events = (await session.scalars(
            select(OutboxRecord.id).where(OutboxRecord.handled_at.is_(None), OutboxRecord.relayed_at.is_not(None),
                                          OutboxRecord.relayed_at < now - timedelta(minutes=1)).limit(500)
        )).all()
        stalled = (await session.execute(
            select(ProvisioningStepRecord.customer_id, ProvisioningStepRecord.step)
            .where(ProvisioningStepRecord.status.in_(("pending", "failed")),
                   ProvisioningStepRecord.updated_at < now - timedelta(seconds=settings.job_backoff_max_seconds))
            .limit(500)
        )).all()
    for outbox_id in events:
        await enqueue_outbox_event(queue, settings, outbox_id)
    round_ = int(now.timestamp())
    for customer_id, step in stalled:
        await _enqueue_step(queue, settings, Step(step), customer_id, f"redrive-{round_}")
    if events or stalled:
        log.warning("provisioning.redriven", events=len(events), steps=len(stalled))
    return len(events) + len(stalled)


def provisioning_cron_jobs() -> list[CronJob[Any]]:
    return [CronJob(redrive_provisioning, cron="* * * * *", timeout=60)]


PROVISIONING_JOBS = [
    handle_outbox_event,
    _job(Step.KEYCLOAK_USER, _keycloak_user),
    _job(Step.WELCOME_EMAIL, _welcome_email),
    _job(Step.DEPOSIT_ACCOUNT, _deposit_account),
    _job(Step.KEYCLOAK_DISABLED, _keycloak_disabled),
    _job(Step.DEPOSIT_FROZEN, _deposit_frozen),
]

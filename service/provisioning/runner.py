"""Carrying out the provisioning plan: the application service of provisioning.

One run takes a customer's new events (in order, under the customer's row lock), wants the steps
the plan says, claims the customer's unfinished steps and runs them side by side, each recorded on
its own: a step that fails is retried later without redoing the ones that succeeded. A step done
claims its follow-ups in the same transaction and runs them in the same run; the transaction that
records the last activation step activates the customer (``Customer.activate``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

import structlog
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service import clock
from service.customers.domain import CustomerType
from service.customers.repository import WORKING_COLUMNS, CustomerRow, customer_state, lock_customer, update_state
from service.db.driver import DriverStatement
from service.db.models import CustomerRecord, OutboxRecord
from service.events import CustomerEvent
from service.outbox import parse_event
from service.provisioning.actions import ACTIONS, ActionContext, CustomerSnapshot, Outcome
from service.provisioning.plan import (
    ACTIVATION_STEPS,
    Step,
    StepStatus,
    activation_complete,
    follow_ups,
    steps_for,
)
from service.provisioning.steps import claim_unfinished, end_step, fail_attempt, reopen, want, want_and_claim
from service.settings import Settings
from service.worker_context import WorkerResources

__all__ = ["ProvisioningRun", "StartedRun", "StepsBusy", "StepsFailed", "begin_for_events", "carry_out", "provision"]

log = structlog.get_logger(__name__)


class StepsFailed(Exception):
    """Some steps failed this time; each is recorded, and the run is retried with backoff."""


class StepsBusy(Exception):
    """Some of the customer's steps are being run by another runner; look again later."""


def _snapshot(customer: CustomerRow) -> CustomerSnapshot:
    return CustomerSnapshot(id=customer.id, email=customer.email, customer_type=CustomerType(customer.customer_type),
                            suspended=customer_state(customer).suspended, keycloak_user_id=customer.keycloak_user_id)


@dataclass(frozen=True)
class StartedRun:
    """Provisioning begun in a transaction under the customer's row lock: its events handled, their
    steps wanted, the customer's unfinished steps claimed; :func:`carry_out` runs them once that
    transaction has committed."""

    customer: CustomerSnapshot
    claimed: list[Step]
    held_elsewhere: int  # unfinished steps another runner holds
    lease: datetime  # the claims' end (``clock.lease_now``'s time)
    events_handled: int


@dataclass
class ProvisioningRun:
    """How a run went: what it began with, and how each step it ran ended."""

    started: StartedRun | None = None  # None: no such customer or event
    ended: dict[str, str] = field(default_factory=dict)  # step -> done / skipped
    failed: dict[str, str] = field(default_factory=dict)  # step -> error

    @property
    def customer_id(self) -> uuid.UUID | None:
        return self.started.customer.id if self.started else None

    @property
    def events_handled(self) -> int:
        return self.started.events_handled if self.started else 0


# built once and sent on the driver (see service.provisioning.steps); the customer's row lock orders
# everything that touches its steps and statuses, across workers
_EVENTS_CUSTOMER_LOCKED = DriverStatement(
    select(*WORKING_COLUMNS)
    .where(CustomerRecord.id == select(OutboxRecord.customer_id).where(OutboxRecord.id == bindparam("the_event"))
           .scalar_subquery())
    .with_for_update(of=CustomerRecord)
)
_outbox = cast(Table, OutboxRecord.__table__).c
_HANDLE_EVENTS = DriverStatement(
    update(cast(Table, OutboxRecord.__table__))
    .where(_outbox.customer_id == bindparam("the_customer"), _outbox.id <= bindparam("up_to"),
           _outbox.handled_at.is_(None))
    .values(handled_at=bindparam("the_now"))
    .returning(_outbox.id, _outbox.event_type, _outbox.payload)
)


_EVERY_EVENT = 2**63 - 1  # the largest outbox id


async def _event_customer_locked(session: AsyncSession, outbox_id: int) -> CustomerRow | None:
    """The customer of the outbox event, found and locked in one statement."""
    return await _EVENTS_CUSTOMER_LOCKED.first(session, {"the_event": outbox_id})


async def _handle_events(session: AsyncSession, customer_id: uuid.UUID, up_to: int, now: datetime) -> int:
    """Want the steps of this event and of every earlier unhandled one of the customer, in order."""
    handled = await _HANDLE_EVENTS.rows(session, {"the_customer": customer_id, "up_to": up_to, "the_now": now})
    events = [parse_event(event_type, payload) for _, event_type, payload in sorted(handled)]
    await want(session, customer_id, _steps_of([event for event in events if event is not None]))
    return len(handled)


def _steps_of(events: Sequence[CustomerEvent]) -> list[Step]:
    """The steps the events ask for, in order, each once."""
    wanted: list[Step] = []
    for event in events:
        wanted += [step for step in steps_for(event) if step not in wanted]
    return wanted


async def provision(resources: WorkerResources, *, outbox_id: int | None = None,
                    customer_id: uuid.UUID | None = None, final: bool = False) -> ProvisioningRun:
    """Handle the event ``outbox_id`` and every earlier one of its customer (or every unhandled event of
    ``customer_id``), and run the customer's unfinished steps.

    ``final``: this is the last attempt the queue allows, so a failure marks its step ``failed``.
    Raises :class:`StepsFailed` or :class:`StepsBusy` when steps are left to do."""
    async with resources.sessions.begin() as session:
        if outbox_id is not None:
            customer = await _event_customer_locked(session, outbox_id)
        elif customer_id is not None:
            customer = await lock_customer(session, customer_id)
        else:
            return ProvisioningRun()
        if customer is None:
            return ProvisioningRun()
        # by customer (a retry, a re-drive): every event of theirs not handled yet
        handled = await _handle_events(session, customer.id, outbox_id or _EVERY_EVENT, clock.now())
        started = await _claim(session, resources.settings, _snapshot(customer), handled)
    return await carry_out(resources, started, final=final)


async def begin_for_events(session: AsyncSession, settings: Settings, customer: CustomerSnapshot,
                           events: Sequence[CustomerEvent]) -> StartedRun:
    """In the transaction that raised ``events`` (written handled, see ``service.outbox``), under the
    customer's lock it holds: want their steps and claim the customer's unfinished ones. Saves the run
    a transaction of its own (BEGIN, the lock, the outbox rows marked handled, COMMIT)."""
    await want(session, customer.id, _steps_of(events))
    return await _claim(session, settings, customer, len(events))


async def _claim(session: AsyncSession, settings: Settings, customer: CustomerSnapshot,
                 events_handled: int) -> StartedRun:
    """Claim the customer's unfinished steps for as long as a job may run, on the clock of leases."""
    claimed_at = clock.lease_now()
    lease = claimed_at + timedelta(seconds=settings.job_timeout_seconds)
    claimed, held_elsewhere = await claim_unfinished(session, customer.id, now=claimed_at, until=lease)
    return StartedRun(customer, claimed, held_elsewhere, lease, events_handled)


async def carry_out(resources: WorkerResources, started: StartedRun, *, final: bool = False) -> ProvisioningRun:
    """Run the claimed steps side by side, and the follow-ups each claims, each recorded on its own.

    Raises :class:`StepsFailed` or :class:`StepsBusy` when steps are left to do."""
    run = ProvisioningRun(started)
    snapshot = started.customer
    if started.events_handled:
        log.info("outbox.handled", customer_id=str(snapshot.id), events=started.events_handled)
    round_ = [(step, snapshot) for step in started.claimed]
    while round_:
        results = await asyncio.gather(*(_run_step(resources, seen, step, run, started.lease, final)
                                         for step, seen in round_))
        round_ = [follow_up for claimed_next in results for follow_up in claimed_next]
    if run.failed:
        raise StepsFailed(", ".join(f"{step}: {error}" for step, error in run.failed.items()))
    if started.held_elsewhere:
        raise StepsBusy(f"{started.held_elsewhere} step(s) of customer {snapshot.id} held by another runner")
    return run


async def _run_step(resources: WorkerResources, seen: CustomerSnapshot, step: Step, run: ProvisioningRun,
                    lease: datetime, final: bool) -> list[tuple[Step, CustomerSnapshot]]:
    """Run one claimed step and record how it ended; the follow-ups it claimed."""
    action = ACTIONS[step]
    try:
        if action.in_transaction:
            async with resources.sessions.begin() as session:
                customer = await lock_customer(session, seen.id)
                if customer is None:
                    raise LookupError("the customer is gone")
                outcome = await action.run(ActionContext(resources, _snapshot(customer), session))
                ended = await _record(session, customer, step, outcome, lease)
        else:
            outcome = await action.run(ActionContext(resources, seen))
            async with resources.sessions.begin() as session:
                customer = await lock_customer(session, seen.id)
                if customer is None:
                    raise LookupError("the customer is gone")
                ended = await _record(session, customer, step, outcome, lease)
        if ended.disable_login and outcome.keycloak_user_id is not None:
            await _disable_made_login(resources, seen, run)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        async with resources.sessions.begin() as session:
            await fail_attempt(session, seen.id, step, error, final=final)
        run.failed[step.value] = error
        log.warning("provisioning.step_failed", customer_id=str(seen.id), step=step.value, final=final,
                    error=type(exc).__name__)
        return []
    run.ended[step.value] = outcome.status.value
    log.info("provisioning.step_done", customer_id=str(seen.id), step=step.value, status=outcome.status.value,
             activated=ended.activated)
    return [(follow_up, ended.snapshot) for follow_up in ended.claimed]


async def _disable_made_login(resources: WorkerResources, seen: CustomerSnapshot, run: ProvisioningRun) -> None:
    """Suspended while the user was being made: the disable step may have found no user to disable."""
    try:
        await ActionContext(resources, seen).directory.disable_login(str(seen.id))
    except Exception as exc:
        async with resources.sessions.begin() as session:
            await reopen(session, seen.id, Step.KEYCLOAK_DISABLED)  # the retry disables it
        run.failed[Step.KEYCLOAK_DISABLED.value] = f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class _Ended:
    claimed: list[Step]
    snapshot: CustomerSnapshot
    activated: bool
    disable_login: bool


async def _record(session: AsyncSession, customer: CustomerRow, step: Step, outcome: Outcome,
                  lease: datetime) -> _Ended:
    """Record the step's end, want and claim its follow-ups, activate when the plan is complete."""
    states = await end_step(session, customer.id, step, outcome.status, outcome.external_ref)
    claimed: list[Step] = []
    wanted = follow_ups(step, outcome.status)
    if wanted:
        claimed = await want_and_claim(session, customer.id, wanted, now=clock.lease_now(), until=lease)
    before = after = customer_state(customer)
    if step in ACTIVATION_STEPS and outcome.status is StepStatus.DONE:
        after, _ = before.activate(provisioning_complete=activation_complete(states))
    keycloak_user_id = outcome.keycloak_user_id or customer.keycloak_user_id
    if after != before or keycloak_user_id != customer.keycloak_user_id:
        await update_state(session, after, keycloak_user_id=keycloak_user_id)
    snapshot = replace(_snapshot(customer), keycloak_user_id=keycloak_user_id,
                       temporary_password=outcome.temporary_password)
    return _Ended(claimed, snapshot, activated=after != before, disable_login=before.suspended)

"""Processing the inbox: one customer at a time, every pending callback of theirs in one go.

The customer's row is locked (``SELECT … FOR UPDATE``) for the whole transaction, so two workers
never process the same customer's callbacks at once. The new state is the fold of every
state-changing callback ever processed for the customer plus the new ones, applied to the
customer's lifecycle (``Customer.apply_kyc``); when it changes, the change and the
``CustomerKycUpdated`` event it raises are written together.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy import Table, any_, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import clock
from service.customers.domain import (
    ActivityStatus,
    CustomerType,
    KycLevel,
    KycStatus,
    VerificationStatus,
    kyc_level_name,
)
from service.customers.repository import WORKING_COLUMNS, CustomerRow, customer_state, update_state
from service.db.driver import DriverStatement
from service.db.models import CustomerRecord, KycCallbackRecord
from service.kyc.domain import (
    APPLICANT_REVIEWED,
    STATE_CHANGING,
    Callback,
    CallbackError,
    CallbackStatus,
    KycFacts,
    RejectType,
    fold,
    parse_callback,
)
from service.outbox import write_event
from service.provisioning.actions import CustomerSnapshot
from service.provisioning.runner import StartedRun, begin_for_events
from service.settings import Settings

__all__ = ["ProcessingResult", "process_callbacks", "record_failure"]

log = structlog.get_logger(__name__)

_OPEN = (CallbackStatus.RECEIVED.value, CallbackStatus.PROCESSED.value)


@dataclass(frozen=True)
class ProcessingResult:
    customer_id: uuid.UUID | None
    processed: int
    changed: bool
    # with ``hand_over``: the provisioning the fold's events ask for, begun in its transaction
    provisioning: StartedRun | None = None


def _stored_facts(customer: CustomerRecord) -> KycFacts:
    return KycFacts(
        kyc_status=KycStatus(customer.kyc_status),
        verification_status=VerificationStatus(customer.verification_status),
        kyc_level=KycLevel(customer.kyc_level),
        applicant_id=customer.applicant_id,
        reject_type=RejectType(customer.kyc_reject_type) if customer.kyc_reject_type else None,
        reject_labels=tuple(customer.kyc_reject_labels or ()),
        moderation_comment=customer.kyc_moderation_comment,
        client_comment=customer.kyc_client_comment,
        reviewed_at=customer.kyc_reviewed_at,
        suspend=customer.activity_status == ActivityStatus.SUSPENDED.value,
    )


# what processing reads of a callback and of its customer: Core rows, never ORM objects (no unit of work
# to flush; the writes are statements of their own)
_CALLBACK_COLUMNS = (KycCallbackRecord.id, KycCallbackRecord.status, KycCallbackRecord.type,
                     KycCallbackRecord.external_user_id, KycCallbackRecord.applicant_id)
_callbacks = cast(Table, KycCallbackRecord.__table__)
_TRIGGER = DriverStatement(select(*_CALLBACK_COLUMNS).where(KycCallbackRecord.id == bindparam("the_id")))
_FAILED = DriverStatement(update(_callbacks).where(_callbacks.c.id == bindparam("the_id"))
                          .values(status=CallbackStatus.FAILED.value, last_error=bindparam("the_error"),
                                  processed_at=bindparam("the_now")))
_DONE = DriverStatement(update(_callbacks).where(_callbacks.c.id == bindparam("the_id"))
                        .values(status=bindparam("the_status"), attempts=_callbacks.c.attempts + 1,
                                processed_at=bindparam("the_now")))

CallbackRow = Any  # a row of _CALLBACK_COLUMNS, a DriverStatement's named tuple


# the callback's customer, by its externalUserId or its applicantId (either may be NULL), locked
_CUSTOMER_OF_CALLBACK = DriverStatement(
    select(*WORKING_COLUMNS)  # provisioning's too: the fold begins it in the same transaction
    .where(or_(CustomerRecord.id == bindparam("the_id"), CustomerRecord.applicant_id == bindparam("the_applicant")))
    .with_for_update().limit(1)
)
# the open callbacks of a customer: the trigger, those naming the customer, or its applicant, or the
# trigger's (each may be NULL)
_OPEN_CALLBACKS_OF = DriverStatement(
    select(*_CALLBACK_COLUMNS, KycCallbackRecord.payload)
    .where(or_(KycCallbackRecord.id == bindparam("the_trigger"),
               KycCallbackRecord.external_user_id == bindparam("the_customer"),
               KycCallbackRecord.applicant_id == bindparam("the_applicant"),
               KycCallbackRecord.applicant_id == bindparam("the_triggers_applicant")),
           KycCallbackRecord.status == any_(array(_OPEN)))
    .order_by(KycCallbackRecord.id)
)


async def _customer_for(session: AsyncSession, row: CallbackRow) -> CustomerRow | None:
    customer_id = None
    if row.external_user_id:
        with contextlib.suppress(ValueError):
            customer_id = uuid.UUID(row.external_user_id)
    if customer_id is None and not row.applicant_id:
        return None
    return await _CUSTOMER_OF_CALLBACK.first(session, {"the_id": customer_id,
                                                       "the_applicant": row.applicant_id or None})


def _level_problem(callback: Callback, customer: CustomerRow, settings: Settings) -> str | None:
    """A review for a level this service does not use is not applied, and says so (never dropped)."""
    if callback.type != APPLICANT_REVIEWED or callback.level_name is None:
        return None
    expected = kyc_level_name(CustomerType(customer.customer_type), kyc_level=settings.sumsub_kyc_level,
                         kyb_level=settings.sumsub_kyb_level)
    if callback.level_name != expected:
        return f"review for level {callback.level_name[:80]!r}, but this customer is verified at {expected!r}"
    return None


def _read(row: CallbackRow, customer: CustomerRow, settings: Settings,
          others: frozenset[str]) -> tuple[Callback | None, str | None]:
    """The row's callback, and why it must not be applied (asked of new rows only)."""
    try:
        callback = parse_callback(row.payload)
    except CallbackError as exc:  # stored before intake checked every field it reads
        return None, str(exc)
    if row.status != CallbackStatus.RECEIVED:
        return callback, None
    # a callback with no readable time or an unknown answer is held for an operator, never guessed at
    return callback, callback.defect or _identity_problem(row, customer, others) or _level_problem(
        callback, customer, settings)


def _identity_problem(row: CallbackRow, customer: CustomerRow, others: frozenset[str]) -> str | None:
    """A callback must name one customer: its externalUserId and its applicantId, where given, both theirs."""
    if row.external_user_id and not _is_customer(row.external_user_id, customer):
        return f"externalUserId {row.external_user_id!r} and applicantId {row.applicant_id!r} name different customers"
    if row.applicant_id and customer.applicant_id and row.applicant_id != customer.applicant_id:
        return f"applicantId {row.applicant_id!r} is not this customer's applicant ({customer.applicant_id!r})"
    if row.applicant_id in others:
        return f"applicantId {row.applicant_id!r} is another customer's applicant"
    return None


def _is_customer(external_user_id: str, customer: CustomerRow) -> bool:
    try:
        return uuid.UUID(external_user_id) == customer.id
    except ValueError:
        return False


async def _applicants_of_others(session: AsyncSession, customer: CustomerRow,
                                rows: list[CallbackRow]) -> frozenset[str]:
    """Which applicant ids of these rows belong to another customer (asked only while the customer has none)."""
    named = {r.applicant_id for r in rows if r.applicant_id and customer.applicant_id is None}
    if not named:
        return frozenset()
    found = await session.scalars(select(CustomerRecord.applicant_id).where(
        CustomerRecord.applicant_id.in_(named), CustomerRecord.id != customer.id))
    return frozenset(a for a in found if a)


async def process_callbacks(sessions: async_sessionmaker[AsyncSession], settings: Settings,
                            callback_id: int, *, hand_over: bool = False) -> ProcessingResult:
    """Fold the customer's callbacks up to ``callback_id``. ``hand_over``: the caller runs the
    provisioning of the events raised itself (see ``service.outbox.write_event``)."""
    async with sessions.begin() as session:
        trigger = await _TRIGGER.first(session, {"the_id": callback_id})
        if trigger is None:
            return ProcessingResult(None, 0, False)
        customer = await _customer_for(session, trigger)
        now = clock.now()
        if customer is None:
            if trigger.status == CallbackStatus.RECEIVED:
                await session.execute(update(_callbacks).where(_callbacks.c.id == trigger.id).values(
                    status=CallbackStatus.ORPHAN.value, processed_at=now,
                    last_error="no customer with this externalUserId or applicantId"))
                log.warning("kyc.callback_orphan", callback_id=trigger.id, type=trigger.type,
                            external_user_id=trigger.external_user_id)
                return ProcessingResult(None, 1, False)
            return ProcessingResult(None, 1 if trigger.status == CallbackStatus.ORPHAN else 0, False)

        # read under the customer's lock: another job may have processed the trigger meanwhile
        rows = await _OPEN_CALLBACKS_OF.rows(session, {
            "the_trigger": trigger.id, "the_customer": str(customer.id), "the_applicant": customer.applicant_id or None,
            "the_triggers_applicant": trigger.applicant_id or None})
        fresh = [r for r in rows if r.status == CallbackStatus.RECEIVED]
        if not fresh:
            return ProcessingResult(customer.id, 0, False)

        others = await _applicants_of_others(session, customer, fresh)
        history: list[tuple[int, Callback]] = []
        failed: list[dict[str, Any]] = []
        done: list[dict[str, Any]] = []
        for row in rows:
            callback, problem = _read(row, customer, settings, others)
            if callback is None or problem:
                if row.status == CallbackStatus.RECEIVED:
                    failed.append({"the_id": row.id, "the_error": problem, "the_now": now})
                    log.error("kyc.callback_rejected", callback_id=row.id, reason=problem)
                continue
            if callback.type in STATE_CHANGING:
                history.append((row.id, callback))
            if row.status == CallbackStatus.RECEIVED:
                status = (CallbackStatus.PROCESSED if callback.type in STATE_CHANGING else CallbackStatus.IGNORED).value
                done.append({"the_id": row.id, "the_status": status, "the_now": now})
                log.info("kyc.callback_processed", callback_id=row.id, type=row.type, status=status)
        for statement, values in ((_FAILED, failed), (_DONE, done)):
            if values:
                await statement.run_many(session, values)

        start = KycFacts.initial(link_created=customer.kyc_started_at is not None, applicant_id=customer.applicant_id)
        before = customer_state(customer)
        after, events = before.apply_kyc(fold(start, history))
        if not events:
            return ProcessingResult(customer.id, len(fresh), False)

        await update_state(session, after, keycloak_user_id=customer.keycloak_user_id)
        for event in events:
            await write_event(session, event, handed_over=hand_over)
        started = None
        if hand_over:
            snapshot = CustomerSnapshot(id=customer.id, email=customer.email, customer_type=after.customer_type,
                                        suspended=after.suspended, keycloak_user_id=customer.keycloak_user_id)
            started = await begin_for_events(session, settings, snapshot, events)
        log.info("kyc.customer_updated", customer_id=str(customer.id), kyc_status=after.kyc_status.value,
                 activity_status=after.activity_status.value)
        return ProcessingResult(customer.id, len(fresh), True, started)


async def record_failure(sessions: async_sessionmaker[AsyncSession], callback_id: int, error: str, *,
                         final: bool) -> None:
    """Count a failed attempt on the callback; the last allowed one marks it failed, for operators to see."""
    async with sessions.begin() as session:
        await session.execute(
            update(KycCallbackRecord)
            .where(KycCallbackRecord.id == callback_id, KycCallbackRecord.status == CallbackStatus.RECEIVED.value)
            .values(attempts=KycCallbackRecord.attempts + 1, last_error=error[:2000],
                    **({"status": CallbackStatus.FAILED.value} if final else {}))
        )

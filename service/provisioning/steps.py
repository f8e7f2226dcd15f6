"""Provisioning state per customer and step, in PostgreSQL: wanted, claimed while run, ended.

A runner claims the steps it runs (``claimed_until``), so two runs of one step never overlap, and
a claim left by a runner that died lapses by itself. The status stays ``pending`` while a step runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from sqlalchemy import ARRAY, ColumnElement, String, Table, Uuid, and_, any_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.driver import DriverStatement
from service.db.models import ProvisioningStepRecord
from service.provisioning.plan import Step, StepStatus

__all__ = ["claim", "claim_unfinished", "end_step", "fail_attempt", "reopen", "step_states", "want",
           "want_and_claim"]

_UNFINISHED = (StepStatus.PENDING.value, StepStatus.FAILED.value)


async def want(session: AsyncSession, customer_id: uuid.UUID, steps: Iterable[Step]) -> None:
    """Record that the steps are wanted; a step already done, skipped or under way is left as it is."""
    names = [step.value for step in steps]
    if names:
        await _WANT.run(session, {"the_customer": customer_id, "the_steps": names})


async def reopen(session: AsyncSession, customer_id: uuid.UUID, step: Step) -> None:
    """Want the step again, even when it was done: what it did has been undone since."""
    await session.execute(
        insert(ProvisioningStepRecord).values(customer_id=customer_id, step=step.value)
        .on_conflict_do_update(index_elements=[ProvisioningStepRecord.customer_id, ProvisioningStepRecord.step],
                               set_={"status": StepStatus.PENDING.value})
    )


async def claim(session: AsyncSession, customer_id: uuid.UUID, *, now: datetime, until: datetime,
                steps: Iterable[Step] | None = None) -> list[Step]:
    """Claim the customer's unfinished steps (those of ``steps`` only, when given) that nobody holds."""
    conditions = [
        ProvisioningStepRecord.customer_id == customer_id,
        ProvisioningStepRecord.status.in_(_UNFINISHED),
        or_(ProvisioningStepRecord.claimed_until.is_(None), ProvisioningStepRecord.claimed_until < now),
    ]
    if steps is not None:
        wanted = [step.value for step in steps]
        if not wanted:
            return []
        conditions.append(ProvisioningStepRecord.step.in_(wanted))
    claimed = await session.scalars(
        update(ProvisioningStepRecord).where(and_(*conditions))
        .values(claimed_until=until, updated_at=ProvisioningStepRecord.updated_at)  # a claim is not progress
        .returning(ProvisioningStepRecord.step)
        .execution_options(synchronize_session=False)
    )
    return sorted(Step(step) for step in claimed)


# The statements of a provisioning run, built once and sent on the driver (``service.db.driver``; their
# parameters are not named after columns, which a Core UPDATE would take as values to set): a run
# executes them with its values (building a statement anew each time costs more CPU than the
# database spends running it).
_TABLE = cast(Table, ProvisioningStepRecord.__table__)
_T = _TABLE.c


def _claimable_now() -> ColumnElement[bool]:
    return and_(_T.status == any_(array(_UNFINISHED)),
                or_(_T.claimed_until.is_(None), _T.claimed_until < bindparam("the_now")))


_CLAIMED = (
    update(_TABLE).where(_T.customer_id == bindparam("the_customer"), _claimable_now())
    .values(claimed_until=bindparam("the_until"), updated_at=_T.updated_at)  # a claim is not progress
    .returning(_T.step).cte("claimed")
)
# the statement's snapshot is the one before the claim: the statuses, which a claim leaves alone
_CLAIM_UNFINISHED = DriverStatement(select(_T.step, _T.status, _T.step.in_(select(_CLAIMED.c.step)).label("taken"))
                                    .where(_T.customer_id == bindparam("the_customer")))

_WANT = DriverStatement(insert(_TABLE).from_select(
    ["customer_id", "step"],
    select(bindparam("the_customer", type_=Uuid), func.unnest(bindparam("the_steps", type_=ARRAY(String))))
).on_conflict_do_nothing())

_NEW_CLAIMED = insert(_TABLE).values(
    customer_id=bindparam("the_customer"), step=bindparam("the_step"), claimed_until=bindparam("the_until"))
_WANT_AND_CLAIM = DriverStatement(_NEW_CLAIMED.on_conflict_do_update(
    index_elements=[_T.customer_id, _T.step], set_={"claimed_until": _NEW_CLAIMED.excluded.claimed_until},
    where=_claimable_now(),
).returning(_T.step))

_ENDED = (
    update(_TABLE)
    .where(_T.customer_id == bindparam("the_customer"), _T.step == bindparam("the_step"))
    .values(status=bindparam("the_status"), last_error=None, attempts=_T.attempts + 1,
            external_ref=bindparam("the_ref"), claimed_until=None, updated_at=func.now())
    .returning(_T.step, _T.status).cte("ended")
)
_END_STEP = DriverStatement(
    select(_T.step, _T.status).where(_T.customer_id == bindparam("the_customer"), _T.step != bindparam("the_step"))
    .union_all(select(_ENDED.c.step, _ENDED.c.status))
)


async def claim_unfinished(session: AsyncSession, customer_id: uuid.UUID, *, now: datetime,
                           until: datetime) -> tuple[list[Step], int]:
    """:func:`claim` every unfinished step nobody holds, in one round trip; the steps claimed, and how
    many unfinished steps another runner holds."""
    rows = await _CLAIM_UNFINISHED.rows(session, {"the_customer": customer_id, "the_now": now, "the_until": until})
    mine = sorted(Step(step) for step, _, taken in rows if taken)
    return mine, sum(1 for _, status, taken in rows if status in _UNFINISHED and not taken)


async def want_and_claim(session: AsyncSession, customer_id: uuid.UUID, steps: Iterable[Step], *, now: datetime,
                         until: datetime) -> list[Step]:
    """:func:`want` the steps and :func:`claim` those of them still unfinished that nobody holds: a new
    step is written claimed, an existing one is claimed as :func:`claim` would; one statement a step."""
    claimed = []
    for step in steps:
        taken = await _WANT_AND_CLAIM.first(session, {"the_customer": customer_id, "the_step": step.value,
                                                      "the_now": now, "the_until": until})
        if taken is not None:
            claimed.append(Step(taken.step))
    return sorted(claimed)


async def end_step(session: AsyncSession, customer_id: uuid.UUID, step: Step, status: StepStatus,
                   external_ref: str | None) -> dict[Step, StepStatus]:
    """The step ran to its end (done or skipped): counted, its error cleared, its claim released. The
    customer's steps as they stand then (:func:`step_states`), read in the same round trip."""
    rows = await _END_STEP.rows(session, {"the_customer": customer_id, "the_step": step.value,
                                          "the_status": status.value, "the_ref": external_ref})
    return {Step(name): StepStatus(state) for name, state in rows}


async def fail_attempt(session: AsyncSession, customer_id: uuid.UUID, step: Step, error: str, *,
                       final: bool) -> None:
    """A failed attempt, counted and shown; ``final``: no retry is left, the step is ``failed``."""
    await session.execute(
        update(ProvisioningStepRecord)
        .where(
            ProvisioningStepRecord.customer_id == customer_id,
            ProvisioningStepRecord.step == step.value,
            ProvisioningStepRecord.status.in_(_UNFINISHED),
        )
        .values(attempts=ProvisioningStepRecord.attempts + 1, last_error=error[:2000], claimed_until=None,
                status=(StepStatus.FAILED if final else StepStatus.PENDING).value)
        .execution_options(synchronize_session=False)
    )


async def step_states(session: AsyncSession, customer_id: uuid.UUID) -> dict[Step, StepStatus]:
    rows = await session.execute(select(ProvisioningStepRecord.step, ProvisioningStepRecord.status)
                                 .where(ProvisioningStepRecord.customer_id == customer_id))
    return {Step(step): StepStatus(status) for step, status in rows}

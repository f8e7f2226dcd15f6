"""Provisioning state per customer and step, and activation when every step is done."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.domain import ActivityStatus, VerificationStatus
from service.db.models import CustomerRecord, ProvisioningStepRecord

__all__ = ["ACTIVATION_STEPS", "Step", "StepStatus", "activate_when_provisioned", "mark_attempt", "mark_done",
           "mark_pending"]


class Step(StrEnum):
    KEYCLOAK_USER = "keycloak_user"
    WELCOME_EMAIL = "welcome_email"
    DEPOSIT_ACCOUNT = "deposit_account"
    KEYCLOAK_DISABLED = "keycloak_disabled"
    DEPOSIT_FROZEN = "deposit_frozen"


class StepStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


ACTIVATION_STEPS = (Step.KEYCLOAK_USER, Step.WELCOME_EMAIL, Step.DEPOSIT_ACCOUNT)


async def mark_pending(session: AsyncSession, customer_id: uuid.UUID, step: Step) -> None:
    """Record that the step is wanted; a step already done or under way is left as it is."""
    await session.execute(
        insert(ProvisioningStepRecord).values(customer_id=customer_id, step=step.value).on_conflict_do_nothing()
    )


async def step_state(session: AsyncSession, customer_id: uuid.UUID, step: Step) -> ProvisioningStepRecord | None:
    return await session.get(ProvisioningStepRecord, (customer_id, step.value))


async def mark_done(session: AsyncSession, customer_id: uuid.UUID, step: Step, external_ref: str | None = None) -> None:
    # ON CONFLICT DO UPDATE skips the ORM's onupdate: the time is set here
    values = {"status": "done", "last_error": None, "attempts": ProvisioningStepRecord.attempts + 1,
              "updated_at": func.now()}
    if external_ref is not None:
        values["external_ref"] = external_ref
    statement = insert(ProvisioningStepRecord).values(
        customer_id=customer_id, step=step.value, status="done", attempts=1, external_ref=external_ref
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[ProvisioningStepRecord.customer_id, ProvisioningStepRecord.step], set_=values
        )
    )


async def mark_attempt(session: AsyncSession, customer_id: uuid.UUID, step: Step, error: str, *, final: bool) -> None:
    await session.execute(
        update(ProvisioningStepRecord)
        .where(
            ProvisioningStepRecord.customer_id == customer_id,
            ProvisioningStepRecord.step == step.value,
            ProvisioningStepRecord.status != "done",
        )
        .values(
            attempts=ProvisioningStepRecord.attempts + 1,
            last_error=error[:2000],
            status="failed" if final else "pending",
        )
    )


async def activate_when_provisioned(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """Verified, inactive, and every activation step done: the customer becomes active."""
    customer = await session.scalar(select(CustomerRecord).where(CustomerRecord.id == customer_id).with_for_update())
    if (
        customer is None
        or customer.activity_status != ActivityStatus.INACTIVE.value
        or customer.verification_status != VerificationStatus.VERIFIED.value
    ):
        return False
    done = set(
        (
            await session.scalars(
                select(ProvisioningStepRecord.step).where(
                    ProvisioningStepRecord.customer_id == customer_id, ProvisioningStepRecord.status == "done"
                )
            )
        ).all()
    )
    if not {s.value for s in ACTIVATION_STEPS} <= done:
        return False
    customer.activity_status = ActivityStatus.ACTIVE.value
    return True

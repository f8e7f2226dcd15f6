"""The provisioning plan, in plain Python: which steps an event needs, what follows each step,
and when the plan that activates a customer is complete. No I/O; the runner carries it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from service.customers.domain import ActivityStatus, KycStatus
from service.events import CustomerDeactivated, CustomerEvent, CustomerKycUpdated

__all__ = ["ACTIVATION_STEPS", "FOLLOW_UPS", "Step", "StepStatus", "activation_complete", "follow_ups",
           "steps_for", "unfinished"]


class Step(StrEnum):
    KEYCLOAK_USER = "keycloak_user"
    WELCOME_EMAIL = "welcome_email"
    DEPOSIT_ACCOUNT = "deposit_account"
    KEYCLOAK_DISABLED = "keycloak_disabled"
    DEPOSIT_FROZEN = "deposit_frozen"


class StepStatus(StrEnum):
    PENDING = "pending"  # wanted, not (successfully) run yet; retried with backoff
    DONE = "done"
    FAILED = "failed"  # its job ran out of retries; the re-drive starts it again
    SKIPPED = "skipped"  # not to be done any more: the customer was suspended first


# the steps that make a customer active when all are done
ACTIVATION_STEPS = (Step.KEYCLOAK_USER, Step.WELCOME_EMAIL, Step.DEPOSIT_ACCOUNT)
# the welcome email carries a password set on the Keycloak user: it can only follow that user
FOLLOW_UPS: Mapping[Step, tuple[Step, ...]] = {Step.KEYCLOAK_USER: (Step.WELCOME_EMAIL,)}


def steps_for(event: CustomerEvent) -> tuple[Step, ...]:
    """The steps an event asks for. They are independent of each other and may run side by side."""
    if isinstance(event, CustomerDeactivated) or event.activity_status == ActivityStatus.SUSPENDED.value:
        return (Step.KEYCLOAK_DISABLED, Step.DEPOSIT_FROZEN)
    if isinstance(event, CustomerKycUpdated) and event.kyc_status == KycStatus.APPROVED.value:
        return (Step.KEYCLOAK_USER, Step.DEPOSIT_ACCOUNT)
    return ()


def follow_ups(step: Step, status: StepStatus) -> tuple[Step, ...]:
    """What is wanted once ``step`` has ended so: follow-ups come only after a step done, not skipped."""
    return FOLLOW_UPS.get(step, ()) if status is StepStatus.DONE else ()


def unfinished(status: StepStatus) -> bool:
    """A step still to run (again)."""
    return status in (StepStatus.PENDING, StepStatus.FAILED)


def activation_complete(states: Mapping[Step, StepStatus]) -> bool:
    """Every activation step done (a skipped step never completes the plan)."""
    return all(states.get(step) is StepStatus.DONE for step in ACTIVATION_STEPS)

"""The provisioning plan: which steps each event needs, what follows, when activation is complete."""

from __future__ import annotations

import uuid

import pytest

from service.events import CustomerDeactivated, CustomerKycUpdated
from service.provisioning.plan import (
    ACTIVATION_STEPS,
    Step,
    StepStatus,
    activation_complete,
    follow_ups,
    steps_for,
    unfinished,
)

CUSTOMER = str(uuid.uuid4())


def kyc_updated(kyc_status: str, activity_status: str = "inactive") -> CustomerKycUpdated:
    return CustomerKycUpdated(customer_id=CUSTOMER, applicant_id="app-1", kyc_status=kyc_status,
                              verification_status="verified" if kyc_status == "approved" else "pending_verification",
                              kyc_level="basic" if kyc_status == "approved" else "not_kyced",
                              activity_status=activity_status, reject_type=None)


def test_an_approval_wants_the_login_and_the_account_side_by_side() -> None:
    assert steps_for(kyc_updated("approved")) == (Step.KEYCLOAK_USER, Step.DEPOSIT_ACCOUNT)


@pytest.mark.parametrize("kyc_status", ["pending", "rejected", "review_needed", "not_started"])
def test_other_kyc_updates_want_nothing(kyc_status: str) -> None:
    assert steps_for(kyc_updated(kyc_status)) == ()


def test_a_suspension_by_kyc_wants_the_login_disabled_and_the_account_frozen() -> None:
    assert steps_for(kyc_updated("rejected", "suspended")) == (Step.KEYCLOAK_DISABLED, Step.DEPOSIT_FROZEN)


def test_a_deactivation_wants_the_login_disabled_and_the_account_frozen() -> None:
    assert steps_for(CustomerDeactivated(customer_id=CUSTOMER)) == (Step.KEYCLOAK_DISABLED, Step.DEPOSIT_FROZEN)


def test_the_welcome_email_follows_a_login_made() -> None:
    assert follow_ups(Step.KEYCLOAK_USER, StepStatus.DONE) == (Step.WELCOME_EMAIL,)


@pytest.mark.parametrize("status", [StepStatus.SKIPPED, StepStatus.PENDING, StepStatus.FAILED])
def test_no_welcome_email_without_a_login_made(status: StepStatus) -> None:
    assert follow_ups(Step.KEYCLOAK_USER, status) == ()


@pytest.mark.parametrize("step", [s for s in Step if s is not Step.KEYCLOAK_USER])
def test_other_steps_have_no_follow_up(step: Step) -> None:
    assert follow_ups(step, StepStatus.DONE) == ()


def test_activation_is_complete_when_login_email_and_account_are_done() -> None:
    states = dict.fromkeys(ACTIVATION_STEPS, StepStatus.DONE)
    assert activation_complete(states)
    assert activation_complete({**states, Step.KEYCLOAK_DISABLED: StepStatus.PENDING})


@pytest.mark.parametrize("step", ACTIVATION_STEPS)
@pytest.mark.parametrize("status", [StepStatus.PENDING, StepStatus.FAILED, StepStatus.SKIPPED, None])
def test_activation_is_incomplete_while_one_step_is_not_done(step: Step, status: StepStatus | None) -> None:
    states: dict[Step, StepStatus] = dict.fromkeys(ACTIVATION_STEPS, StepStatus.DONE)
    if status is None:
        del states[step]
    else:
        states[step] = status
    assert not activation_complete(states)


def test_pending_and_failed_steps_are_unfinished() -> None:
    assert {s for s in StepStatus if unfinished(s)} == {StepStatus.PENDING, StepStatus.FAILED}

"""Every transition of a customer's lifecycle, on plain values: the new state and the events raised."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from service.customers.domain import (
    ActivityStatus,
    Customer,
    CustomerType,
    KycLevel,
    KycStatus,
    VerificationStatus,
)
from service.events import CustomerDeactivated, CustomerKycUpdated
from service.kyc.domain import KycFacts, RejectType

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def new_customer() -> Customer:
    return Customer.create(uuid.uuid4(), CustomerType.INDIVIDUAL)


def approved_facts(applicant_id: str = "app-1") -> KycFacts:
    return KycFacts(kyc_status=KycStatus.APPROVED, verification_status=VerificationStatus.VERIFIED,
                    kyc_level=KycLevel.BASIC, applicant_id=applicant_id, reviewed_at=NOW)


def rejected_facts(*, suspend: bool = False, reject_type: RejectType = RejectType.RETRY) -> KycFacts:
    return KycFacts(kyc_status=KycStatus.REJECTED, verification_status=VerificationStatus.REJECTED,
                    kyc_level=KycLevel.NOT_KYCED, applicant_id="app-1", reject_type=reject_type,
                    reject_labels=("FORGERY",), reviewed_at=NOW, suspend=suspend)


def active_customer() -> Customer:
    approved = new_customer().start_kyc("app-1", NOW).state.apply_kyc(approved_facts()).state
    return approved.activate(provisioning_complete=True).state


def test_a_new_customer_has_not_started_kyc_is_pending_verification_and_inactive() -> None:
    customer = new_customer()
    assert (customer.kyc_status, customer.verification_status, customer.kyc_level, customer.activity_status) == (
        KycStatus.NOT_STARTED, VerificationStatus.PENDING_VERIFICATION, KycLevel.NOT_KYCED, ActivityStatus.INACTIVE)
    assert not customer.may_transact
    assert not customer.eligible_for_credit_facility


def test_starting_kyc_records_the_applicant_and_makes_kyc_pending_without_an_event() -> None:
    started, events = new_customer().start_kyc("app-1", NOW)
    assert (started.kyc_status, started.applicant_id, started.kyc_started_at) == (KycStatus.PENDING, "app-1", NOW)
    assert events == ()


def test_starting_kyc_again_keeps_the_first_applicant_and_start() -> None:
    started = new_customer().start_kyc("app-1", NOW).state
    again = started.start_kyc("app-2", datetime(2027, 1, 1, tzinfo=UTC)).state
    assert again == started


def test_a_review_landed_before_the_link_was_stored_is_not_undone() -> None:
    reviewed = new_customer().apply_kyc(approved_facts()).state
    assert reviewed.start_kyc("app-1", NOW).state.kyc_status is KycStatus.APPROVED


@pytest.mark.parametrize(("customer", "code"), [
    (replace(Customer.create(uuid.uuid4(), CustomerType.BANK), activity_status=ActivityStatus.SUSPENDED),
     "customer_suspended"),
    (replace(Customer.create(uuid.uuid4(), CustomerType.BANK), kyc_status=KycStatus.REJECTED, kyc_reject_type="FINAL",
             kyc_reject_labels=("FORGERY",)), "kyc_rejected_final"),
    (replace(Customer.create(uuid.uuid4(), CustomerType.BANK), kyc_status=KycStatus.APPROVED), "kyc_already_approved"),
])
def test_who_may_not_start_kyc(customer: Customer, code: str) -> None:
    refusal = customer.kyc_start_refusal()
    assert refusal is not None
    assert refusal.code == code


@pytest.mark.parametrize("customer", [
    Customer.create(uuid.uuid4(), CustomerType.INDIVIDUAL),
    replace(Customer.create(uuid.uuid4(), CustomerType.INDIVIDUAL), kyc_status=KycStatus.REJECTED,
            kyc_reject_type="RETRY"),
    replace(Customer.create(uuid.uuid4(), CustomerType.INDIVIDUAL), kyc_status=KycStatus.REVIEW_NEEDED),
])
def test_who_may_start_kyc(customer: Customer) -> None:
    assert customer.kyc_start_refusal() is None


def test_the_final_refusal_names_the_labels() -> None:
    customer = replace(new_customer(), kyc_status=KycStatus.REJECTED, kyc_reject_type="FINAL",
                       kyc_reject_labels=("FORGERY",))
    refusal = customer.kyc_start_refusal()
    assert refusal is not None
    assert refusal.details == {"reject_labels": ["FORGERY"]}


def test_approval_from_the_fold_raises_kyc_updated_with_the_new_statuses() -> None:
    customer = new_customer().start_kyc("app-1", NOW).state
    approved, events = customer.apply_kyc(approved_facts())
    assert (approved.kyc_status, approved.verification_status, approved.kyc_level) == (
        KycStatus.APPROVED, VerificationStatus.VERIFIED, KycLevel.BASIC)
    assert approved.activity_status is ActivityStatus.INACTIVE  # active only once provisioned
    assert events == (CustomerKycUpdated(customer_id=str(customer.id), applicant_id="app-1", kyc_status="approved",
                                         verification_status="verified", kyc_level="basic",
                                         activity_status="inactive", reject_type=None),)


def test_the_same_facts_twice_change_nothing_and_raise_nothing() -> None:
    approved = new_customer().apply_kyc(approved_facts()).state
    assert approved.apply_kyc(approved_facts()) == (approved, ())


def test_a_rejection_keeps_its_reasons() -> None:
    rejected, events = new_customer().apply_kyc(rejected_facts(reject_type=RejectType.FINAL))
    assert (rejected.kyc_status, rejected.kyc_reject_type, rejected.kyc_reject_labels) == (
        KycStatus.REJECTED, "FINAL", ("FORGERY",))
    assert rejected.activity_status is ActivityStatus.INACTIVE
    assert len(events) == 1


def test_a_newer_red_after_approval_suspends_through_the_kyc_event() -> None:
    rejected, events = active_customer().apply_kyc(rejected_facts(suspend=True))
    assert rejected.activity_status is ActivityStatus.SUSPENDED
    assert [type(e) for e in events] == [CustomerKycUpdated]
    assert events[0].activity_status == "suspended"
    assert not rejected.may_transact


def test_kyc_facts_never_lift_a_suspension() -> None:
    suspended = active_customer().suspend().state
    assert suspended.apply_kyc(approved_facts()).state.activity_status is ActivityStatus.SUSPENDED


def test_activation_needs_verification_and_a_complete_plan() -> None:
    approved = new_customer().apply_kyc(approved_facts()).state
    assert approved.activate(provisioning_complete=False) == (approved, ())
    active, events = approved.activate(provisioning_complete=True)
    assert active.activity_status is ActivityStatus.ACTIVE
    assert events == ()
    assert active.may_transact
    assert active.eligible_for_credit_facility


def test_an_unverified_customer_is_not_activated() -> None:
    customer = new_customer()
    assert customer.activate(provisioning_complete=True).state is customer


def test_a_suspended_customer_is_never_activated() -> None:
    suspended = new_customer().apply_kyc(approved_facts()).state.suspend().state
    assert suspended.activate(provisioning_complete=True).state.activity_status is ActivityStatus.SUSPENDED


def test_suspending_raises_deactivated_once() -> None:
    customer = active_customer()
    suspended, events = customer.suspend()
    assert suspended.activity_status is ActivityStatus.SUSPENDED
    assert events == (CustomerDeactivated(customer_id=str(customer.id)),)
    assert suspended.suspend() == (suspended, ())
    assert not suspended.eligible_for_credit_facility

"""The KYC rules of contract section 4, on plain values: no HTTP, no database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.customers.domain import KycLevel, KycStatus, VerificationStatus
from service.kyc.domain import (
    Callback,
    CallbackError,
    KycFacts,
    RejectType,
    fold,
    idempotency_key,
    parse_callback,
    parse_created_at_ms,
)

T0 = datetime(2026, 5, 4, 9, 12, 40, tzinfo=UTC)
START = KycFacts.initial(link_created=True)


def event(kind: str, second: int, answer: str | None = None, reject: str | None = None,
          labels: tuple[str, ...] = ()) -> Callback:
    payload: dict[str, Any] = {
        "type": kind, "applicantId": "6650c1a2b3c4d5e6f7a8b9c0", "externalUserId": "customer-1",
        "correlationId": f"c{second}", "createdAtMs": (T0 + timedelta(seconds=second)).strftime(
            "%Y-%m-%d %H:%M:%S.%f")[:-3],
    }
    if answer:
        payload["reviewResult"] = {"reviewAnswer": answer, "rejectLabels": list(labels), "reviewRejectType": reject,
                                   "moderationComment": "visible to the applicant", "clientComment": "internal"}
    return parse_callback(payload)


CREATED, PENDING = event("applicantCreated", 0), event("applicantPending", 10)
GREEN = event("applicantReviewed", 20, "GREEN")
RED_RETRY = event("applicantReviewed", 20, "RED", "RETRY", ("UNSATISFACTORY_PHOTOS",))


def run(*callbacks: Callback, start: KycFacts = START) -> KycFacts:
    return fold(start, list(enumerate(callbacks)))


def test_green_approves_verifies_and_levels_up() -> None:
    facts = run(CREATED, PENDING, GREEN)
    assert (facts.kyc_status, facts.verification_status, facts.kyc_level) == (
        KycStatus.APPROVED, VerificationStatus.VERIFIED, KycLevel.BASIC)
    assert facts.applicant_id == "6650c1a2b3c4d5e6f7a8b9c0"
    assert not facts.suspend


def test_red_keeps_labels_reject_type_and_both_comments() -> None:
    facts = run(CREATED, RED_RETRY)
    assert (facts.kyc_status, facts.verification_status) == (KycStatus.REJECTED, VerificationStatus.REJECTED)
    assert facts.reject_type is RejectType.RETRY
    assert facts.reject_labels == ("UNSATISFACTORY_PHOTOS",)
    assert (facts.moderation_comment, facts.client_comment) == ("visible to the applicant", "internal")
    assert not facts.suspend


def test_every_ordering_of_created_pending_reviewed_converges() -> None:
    expected = run(CREATED, PENDING, GREEN)
    for ordering in itertools.permutations([CREATED, PENDING, GREEN]):
        assert run(*ordering) == expected, ordering


def test_green_before_created_still_records_the_applicant() -> None:
    facts = run(GREEN, CREATED, start=KycFacts.initial(link_created=False))
    assert facts.kyc_status is KycStatus.APPROVED
    assert facts.applicant_id == "6650c1a2b3c4d5e6f7a8b9c0"


def test_red_retry_then_a_newer_green_is_approved() -> None:
    newer_green = event("applicantReviewed", 40, "GREEN")
    assert run(RED_RETRY, newer_green).kyc_status is KycStatus.APPROVED
    assert run(newer_green, RED_RETRY).kyc_status is KycStatus.APPROVED


def test_green_then_an_older_red_stays_approved() -> None:
    older_red = event("applicantReviewed", 5, "RED", "RETRY", ("SCREENSHOTS",))
    facts = run(GREEN, older_red)
    assert facts.kyc_status is KycStatus.APPROVED
    assert not facts.suspend


def test_green_then_a_newer_red_final_rejects_and_suspends() -> None:
    newer_red = event("applicantReviewed", 60, "RED", "FINAL", ("FORGERY",))
    for ordering in ([GREEN, newer_red], [newer_red, GREEN]):
        facts = run(*ordering)
        assert facts.kyc_status is KycStatus.REJECTED
        assert facts.reject_type is RejectType.FINAL
        assert facts.suspend


def test_on_hold_needs_review_and_a_late_pending_changes_nothing() -> None:
    on_hold = event("applicantOnHold", 30)
    assert run(CREATED, on_hold).kyc_status is KycStatus.REVIEW_NEEDED
    late_pending = event("applicantPending", 5)
    assert run(GREEN, late_pending) == run(GREEN)


def test_informational_and_unknown_types_change_nothing() -> None:
    for kind in ("applicantPending", "applicantPersonalInfoChanged", "applicantTagsChanged", "somethingNew"):
        assert run(event(kind, 50)) == START


def test_created_at_ms_in_sumsubs_format_and_iso() -> None:
    assert parse_created_at_ms("2026-05-04 09:12:40.118") == datetime(2026, 5, 4, 9, 12, 40, 118000, tzinfo=UTC)
    assert parse_created_at_ms("2026-05-04T11:12:40.118+02:00") == datetime(2026, 5, 4, 9, 12, 40, 118000, tzinfo=UTC)
    assert parse_created_at_ms("2026-05-04T09:12:40Z") == datetime(2026, 5, 4, 9, 12, 40, tzinfo=UTC)
    assert parse_created_at_ms("yesterday") is None
    assert parse_created_at_ms(1714814000) is None


@pytest.mark.parametrize("payload", [[], "text", 3, {}, {"type": ""}, {"type": 7}, {"applicantId": "x"}])
def test_a_callback_needs_an_object_with_a_type(payload: Any) -> None:
    with pytest.raises(CallbackError):
        parse_callback(payload)


def test_sandbox_mode_as_boolean_or_string() -> None:
    assert parse_callback({"type": "applicantCreated", "sandboxMode": True}).sandbox
    assert parse_callback({"type": "applicantCreated", "sandboxMode": "true"}).sandbox
    assert not parse_callback({"type": "applicantCreated", "sandboxMode": "false"}).sandbox


def test_idempotency_key_is_type_correlation_and_time_or_a_body_digest() -> None:
    payload = {"type": "applicantCreated", "correlationId": "abc", "createdAtMs": "2026-05-04 09:12:40.118"}
    assert idempotency_key(payload, b"{}") == "applicantCreated:abc:2026-05-04 09:12:40.118"
    partial = {"type": "applicantCreated"}
    assert idempotency_key(partial, b"one").startswith("sha256:")
    assert idempotency_key(partial, b"one") != idempotency_key(partial, b"two")


# A lifecycle as Sumsub produces it: created, then rounds of pending and a review, maybe an on-hold.
lifecycles = st.lists(
    st.sampled_from(["pending", "green", "red_retry", "red_final", "on_hold", "info"]), min_size=1, max_size=6,
).map(lambda steps: [CREATED] + [
    {
        "pending": lambda s: event("applicantPending", s),
        "green": lambda s: event("applicantReviewed", s, "GREEN"),
        "red_retry": lambda s: event("applicantReviewed", s, "RED", "RETRY", ("BAD_SELFIE",)),
        "red_final": lambda s: event("applicantReviewed", s, "RED", "FINAL", ("FORGERY",)),
        "on_hold": lambda s: event("applicantOnHold", s),
        "info": lambda s: event("applicantPersonalInfoChanged", s),
    }[step](10 * (n + 1)) for n, step in enumerate(steps)
])


@settings(max_examples=300, deadline=None)
@given(lifecycle=lifecycles, data=st.data())
def test_any_interleaving_duplication_and_batching_converges_to_in_order_delivery(
        lifecycle: list[Callback], data: st.DataObject) -> None:
    """Deliveries arrive shuffled and duplicated, and are processed in batches as a worker would:
    each batch folds everything received so far, keeping a suspension once made. The end state
    is the state after in-order, one-by-one delivery, and the number of stored changes equals
    the number of batches whose fold differed from what was stored."""
    in_order = START
    for n in range(len(lifecycle)):
        step = fold(START, list(enumerate(lifecycle[: n + 1])))
        in_order = KycFacts(**{**step.__dict__, "suspend": step.suspend or in_order.suspend})

    deliveries = lifecycle + data.draw(st.lists(st.sampled_from(lifecycle), max_size=len(lifecycle)))
    deliveries = data.draw(st.permutations(deliveries))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(deliveries)), max_size=len(deliveries))) | {len(deliveries)})

    stored, changes, seen, start = START, 0, [], 0
    for cut in cuts:
        for callback in deliveries[start:cut]:
            if callback not in seen:  # the inbox's unique key drops duplicates
                seen.append(callback)
        start = cut
        folded = fold(START, list(enumerate(seen)))
        folded = KycFacts(**{**folded.__dict__, "suspend": folded.suspend or stored.suspend})
        if folded != stored:
            stored, changes = folded, changes + 1
    assert stored == in_order
    assert changes <= len(lifecycle)

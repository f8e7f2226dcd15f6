"""The applicant lifecycle, driven from Python, as the receiver sees it in webhooks."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sim.clock import VirtualClock
from sim.sumsub import SumsubFake, TransitionNotAllowed, scripts

LEVEL = "basic-kyc-level"
TEMPLATES = Path(__file__).resolve().parents[3] / "fixtures" / "sumsub"


def ms(clock_seconds: float) -> str:
    moment = datetime.fromtimestamp(clock_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


async def test_retry_then_approval_produces_sumsubs_chain_of_events(sumsub: SumsubFake, receiver,
                                                                   clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await clock.advance(60)
    sumsub.submit_documents(applicant.id)
    await clock.advance(120)
    sumsub.review(applicant.id, "RED", labels=["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"], reject_type="RETRY",
                  moderation_comment="Please upload an original photo of the document.",
                  client_comment="Screenshot submitted instead of a photo.")
    await clock.advance(3600)
    sumsub.submit_documents(applicant.id)
    await clock.advance(120)
    sumsub.review(applicant.id, "GREEN")
    await clock.run_due()

    assert receiver.types == ["applicantCreated", "applicantPending", "applicantReviewed", "applicantPending",
                              "applicantReviewed"]
    payloads = [webhook.payload for webhook in receiver.received]
    assert [p["reviewStatus"] for p in payloads] == ["init", "pending", "completed", "pending", "completed"]
    assert payloads[2]["reviewResult"] == {
        "reviewAnswer": "RED", "rejectLabels": ["UNSATISFACTORY_PHOTOS", "SCREENSHOTS"], "reviewRejectType": "RETRY",
        "moderationComment": "Please upload an original photo of the document.",
        "clientComment": "Screenshot submitted instead of a photo."}
    assert payloads[4]["reviewResult"] == {"reviewAnswer": "GREEN"}
    assert "reviewResult" not in payloads[3]  # a new attempt has no result yet
    # createdAtMs comes from the clock, at the moment of each step
    start = clock.time() - 60 - 120 - 3600 - 120
    assert [p["createdAtMs"] for p in payloads] == [
        ms(start), ms(start + 60), ms(start + 180), ms(start + 3780), ms(start + 3900)]
    for payload in payloads:
        assert payload["applicantId"] == payload["inspectionId"] == applicant.id
        assert payload["externalUserId"] == "customer-1"
        assert payload["levelName"] == LEVEL
        assert payload["sandboxMode"] is True
        assert payload["applicantType"] == "individual"
        assert payload["clientId"] == sumsub.applicants.client_id
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", payload["createdAtMs"])
    assert len({p["correlationId"] for p in payloads}) == 5
    assert applicant.review.attempt_cnt == 2


async def test_events_in_one_instant_still_have_increasing_created_at_ms(sumsub: SumsubFake) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.submit_documents(applicant.id)
    sumsub.review(applicant.id, "GREEN")
    stamps = [event.payload["createdAtMs"] for event in sumsub.events]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3


async def test_on_hold_and_personal_info_change(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL, fixed_info={"firstName": "Ada"})
    sumsub.submit_documents(applicant.id)
    sumsub.put_on_hold(applicant.id)
    sumsub.change_personal_info(applicant.id, lastName="Lovelace")
    sumsub.review(applicant.id, "GREEN")
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantPending", "applicantOnHold",
                              "applicantPersonalInfoChanged", "applicantReviewed"]
    assert [w.payload["reviewStatus"] for w in receiver.received] == [
        "init", "pending", "onHold", "onHold", "completed"]
    assert applicant.fixed_info == {"firstName": "Ada", "lastName": "Lovelace"}


def test_a_red_review_without_a_type_is_final_when_any_label_is_final(sumsub: SumsubFake) -> None:
    first = sumsub.create_applicant("customer-1", LEVEL)
    second = sumsub.create_applicant("customer-2", LEVEL)
    sumsub.review(first.id, "RED", labels=["SCREENSHOTS", "FORGERY"])
    sumsub.review(second.id, "RED", labels=["SCREENSHOTS"])
    assert first.review.result is not None
    assert first.review.result.reject_type == "FINAL"
    assert second.review.result is not None
    assert second.review.result.reject_type == "RETRY"


def test_transitions_sumsub_would_not_make_are_refused(sumsub: SumsubFake) -> None:
    approved = sumsub.create_applicant("approved", LEVEL)
    sumsub.submit_documents(approved.id)
    sumsub.review(approved.id, "GREEN")
    with pytest.raises(TransitionNotAllowed, match="GREEN"):
        sumsub.submit_documents(approved.id)

    final = sumsub.create_applicant("final", LEVEL)
    sumsub.review(final.id, "RED", labels=["FORGERY"], reject_type="FINAL")
    with pytest.raises(TransitionNotAllowed, match="FINAL"):
        sumsub.submit_documents(final.id)

    fresh = sumsub.create_applicant("fresh", LEVEL)
    with pytest.raises(TransitionNotAllowed, match="init"):
        sumsub.put_on_hold(fresh.id)
    pending = sumsub.create_applicant("pending", LEVEL)
    sumsub.submit_documents(pending.id)
    with pytest.raises(TransitionNotAllowed, match="pending"):
        sumsub.submit_documents(pending.id)
    with pytest.raises(ValueError, match="GREEN"):
        sumsub.review(fresh.id, "GREEN", labels=["SCREENSHOTS"])


def test_a_new_attempt_gets_a_new_attempt_id(sumsub: SumsubFake) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.submit_documents(applicant.id)
    first_attempt = applicant.review.attempt_id
    sumsub.review(applicant.id, "RED", labels=["SCREENSHOTS"], reject_type="RETRY")
    sumsub.submit_documents(applicant.id)
    assert applicant.review.attempt_id != first_attempt
    assert applicant.review.attempt_cnt == 2


async def test_a_script_plays_a_lifecycle_on_the_clock(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    start = clock.time()
    run = sumsub.script(applicant.id, scripts.retry_then_approved(review_after=120, resubmit_after=3600))
    assert run.ends_at == start + 120 + 3600 + 120

    await clock.advance(119)
    assert receiver.types == ["applicantCreated", "applicantPending"]
    await clock.advance(1)
    assert receiver.types[-1] == "applicantReviewed"
    assert receiver.received[-1].payload["reviewResult"]["reviewRejectType"] == "RETRY"
    await clock.advance(3600 + 120)
    assert receiver.types[2:] == ["applicantReviewed", "applicantPending", "applicantReviewed"]
    assert receiver.times()[1:] == [start, start + 120, start + 3720, start + 3840]
    assert run.finished
    assert applicant.review.result is not None
    assert applicant.review.result.answer == "GREEN"


async def test_a_cancelled_script_stops(sumsub: SumsubFake, receiver, clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    run = sumsub.script(applicant.id, scripts.approved(review_after=300))
    await clock.advance(10)
    run.cancel()
    await clock.advance(3600)
    assert receiver.types == ["applicantCreated", "applicantPending"]
    assert not run.finished


async def test_emit_sends_a_type_the_lifecycle_does_not_produce(sumsub: SumsubFake, receiver,
                                                                clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.emit(applicant.id, "applicantTagsChanged")
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantTagsChanged"]
    assert receiver.received[1].payload["applicantMemberOf"] is None  # a key kept from the template
    assert applicant.review_status == "init"


def test_every_emitted_payload_has_its_templates_keys_in_its_templates_order(sumsub: SumsubFake) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    sumsub.submit_documents(applicant.id)
    sumsub.put_on_hold(applicant.id)
    sumsub.review(applicant.id, "RED", labels=["SCREENSHOTS"], reject_type="RETRY")
    sumsub.change_personal_info(applicant.id, firstName="Ada")
    sumsub.reset_applicant(applicant.id)
    emitted = {event.type for event in sumsub.events}
    assert emitted == {"applicantCreated", "applicantPending", "applicantOnHold", "applicantReviewed",
                       "applicantPersonalInfoChanged", "applicantReset"}
    for event in sumsub.events:
        template = json.loads((TEMPLATES / f"{event.type}.json").read_text())
        expected_keys = [k for k in template if k != "reviewResult" or "reviewResult" in event.payload]
        assert list(event.payload) == expected_keys, event.type
        assert json.loads(event.body) == dict(event.payload)

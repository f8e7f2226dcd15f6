"""The Sumsub fake's /__admin/ API, as a curl user meets it: drive a review without signing anything,
read the journal, program and clear faults, reset. Every check reads what the receiver really got."""

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar, Request, post

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.servers import served
from sim.sumsub import SumsubFake

from .conftest import WEBHOOK_SECRET

LEVEL = "basic-kyc-level"


@pytest.fixture
async def admin(sumsub: SumsubFake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sumsub.app),
                                 base_url="http://sumsub.test/__admin") as client:
        yield client


async def test_a_green_review_over_the_admin_api_sends_a_signed_webhook(sumsub: SumsubFake, admin, receiver,
                                                                        clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    assert (await admin.post(f"/applicants/{applicant.id}/submit")).status_code == 200
    answer = await admin.post(f"/applicants/{applicant.id}/review", json={"answer": "GREEN"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["event"]["type"] == "applicantReviewed"
    assert answer.json()["event"]["reviewResult"] == {"reviewAnswer": "GREEN"}
    await clock.run_due()
    reviewed = [w for w in receiver.received if w.type == "applicantReviewed"]
    assert len(reviewed) == 1
    expected = hmac.new(WEBHOOK_SECRET.encode(), reviewed[0].body, hashlib.sha256).hexdigest()
    assert reviewed[0].headers["x-payload-digest"] == expected
    assert reviewed[0].payload["correlationId"] == answer.json()["event"]["correlationId"]
    assert [d.id for d in sumsub.webhooks.deliveries if d.event_type == "applicantReviewed"] == \
        answer.json()["deliveries"]


async def test_a_red_review_carries_reject_type_labels_and_comments(sumsub: SumsubFake, admin, receiver,
                                                                    clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await admin.post(f"/applicants/{applicant.id}/submit")
    answer = await admin.post(f"/applicants/{applicant.id}/review", json={
        "answer": "RED", "rejectType": "RETRY", "labels": ["SCREENSHOTS", "BAD_PROOF_OF_ADDRESS"],
        "moderationComment": "Please upload the original."})
    assert answer.status_code == 200, answer.text
    await clock.run_due()
    (reviewed,) = [w for w in receiver.received if w.type == "applicantReviewed"]
    assert reviewed.payload["reviewResult"]["reviewAnswer"] == "RED"
    assert reviewed.payload["reviewResult"]["reviewRejectType"] == "RETRY"
    assert reviewed.payload["reviewResult"]["rejectLabels"] == ["SCREENSHOTS", "BAD_PROOF_OF_ADDRESS"]
    assert reviewed.payload["reviewResult"]["moderationComment"] == "Please upload the original."
    assert sumsub.applicant(applicant.id).review.result is not None


async def test_on_hold_and_the_applicants_list(sumsub: SumsubFake, admin, receiver, clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await admin.post(f"/applicants/{applicant.id}/submit")
    assert (await admin.post(f"/applicants/{applicant.id}/on-hold")).json()["event"]["type"] == "applicantOnHold"
    await clock.run_due()
    assert receiver.types == ["applicantCreated", "applicantPending", "applicantOnHold"]
    listed = (await admin.get("/applicants")).json()["applicants"]
    assert [(a["id"], a["externalUserId"]) for a in listed] == [(applicant.id, "customer-1")]


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/applicants/no-such-applicant/review", {"answer": "GREEN"}, 404),
    ("/applicants/{id}/review", {"answer": "BLUE"}, 400),
    ("/applicants/{id}/review", {"answer": "GREEN", "labels": ["SCREENSHOTS"]}, 400),
    ("/applicants/{id}/review", {"answer": "RED", "rejectType": "SOMETIMES"}, 400),
    ("/applicants/{id}/review", {"answer": "GREEN", "colour": "green"}, 400),
])
async def test_reviews_that_cannot_be_done_are_refused_and_send_nothing(sumsub: SumsubFake, admin, receiver,
                                                                        clock: VirtualClock, path: str,
                                                                        body: dict[str, object], status: int) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await admin.post(f"/applicants/{applicant.id}/submit")
    answer = await admin.post(path.format(id=applicant.id), json=body)
    assert answer.status_code == status
    assert "error" in answer.json()
    await clock.run_due()
    assert "applicantReviewed" not in receiver.types


async def test_a_step_the_applicants_state_does_not_allow_is_a_conflict(sumsub: SumsubFake, admin) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await admin.post(f"/applicants/{applicant.id}/submit")
    await admin.post(f"/applicants/{applicant.id}/review", json={"answer": "RED", "rejectType": "FINAL",
                                                                 "labels": ["FORGERY"]})
    answer = await admin.post(f"/applicants/{applicant.id}/submit")  # a FINAL rejection takes no resubmission
    assert answer.status_code == 409, answer.text


async def test_the_journal_shows_requests_events_attempts_and_the_network(sumsub: SumsubFake, admin, api,
                                                                          receiver, clock: VirtualClock) -> None:
    created = await api.post("/resources/applicants", params={"levelName": LEVEL},
                             json={"externalUserId": "customer-1"})
    await admin.post("/faults", json={"kind": "duplicate", "copies": 1, "match": {"event_type": "applicantCreated"}})
    await clock.run_due()
    entries = (await admin.get("/journal")).json()["entries"]
    kinds = [entry["kind"] for entry in entries]
    assert kinds.count("request") == 1  # the admin calls themselves are not journaled
    (request,) = [e for e in entries if e["kind"] == "request"]
    assert (request["method"], request["status"], request["body"]) == ("POST", 200, {"externalUserId": "customer-1"})
    (event,) = [e for e in entries if e["kind"] == "event"]
    assert (event["type"], event["applicant_id"]) == ("applicantCreated", created.json()["id"])
    (attempt,) = [e for e in entries if e["kind"] == "webhook"]
    assert (attempt["delivery_id"], attempt["attempt"], attempt["status"]) == ("wh-000001", 1, 200)
    assert attempt["payload"]["correlationId"] == event["correlation_id"]
    arrivals = [e for e in entries if e["kind"] == "network" and e["action"] == "arrived"]
    assert [a["copy"] for a in arrivals] == [0, 1]
    assert len(receiver.received) == 2
    assert all(entry["at"].endswith("Z") for entry in entries)


async def test_api_faults_are_set_shown_and_cleared_and_never_reach_the_admin_api(sumsub: SumsubFake, admin,
                                                                                 api) -> None:
    shown = await admin.post("/faults", json={"kind": "outage", "seconds": 30})
    assert shown.status_code == 200
    assert [rule["kind"] for rule in shown.json()["rules"]] == ["outage"]
    refused = await api.post("/resources/applicants", params={"levelName": LEVEL}, json={"externalUserId": "c-1"})
    assert refused.status_code == 503
    assert (await admin.get("/journal")).status_code == 200  # the outage is the REST API's, not the admin's
    assert [i["status"] for i in (await admin.get("/faults")).json()["injected"]] == [503]
    assert (await admin.post("/faults", json={"kind": "clear"})).json()["rules"] == []
    accepted = await api.post("/resources/applicants", params={"levelName": LEVEL}, json={"externalUserId": "c-1"})
    assert accepted.status_code == 200


@pytest.mark.parametrize("body", [{"kind": "meteor"}, {"kind": "error_rate", "probability": 2},
                                  {"kind": "outage", "seconds": "long"}, {"kind": "duplicate", "copies": 0}])
async def test_a_fault_that_does_not_fit_is_a_bad_request(admin, body: dict[str, object]) -> None:
    answer = await admin.post("/faults", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]
    assert (await admin.get("/faults")).json()["rules"] == []


async def test_held_webhooks_are_released_in_the_order_asked(sumsub: SumsubFake, admin, receiver,
                                                             clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await clock.run_due()
    await admin.post("/faults", json={"kind": "hold", "match": {"applicant_id": applicant.id}})
    await admin.post(f"/applicants/{applicant.id}/submit")
    await admin.post(f"/applicants/{applicant.id}/review", json={"answer": "GREEN"})
    await clock.run_due()
    assert len((await admin.get("/faults")).json()["network"]["held"]) == 2
    assert receiver.types == ["applicantCreated"]
    await admin.post("/faults", json={"kind": "release", "order": "reversed"})
    assert receiver.types == ["applicantCreated", "applicantReviewed", "applicantPending"]


async def test_reset_forgets_applicants_journal_and_faults(sumsub: SumsubFake, admin, clock: VirtualClock) -> None:
    applicant = sumsub.create_applicant("customer-1", LEVEL)
    await admin.post("/faults", json={"kind": "drop", "count": None})
    await admin.post("/faults", json={"kind": "error_rate", "probability": 0.5})
    await clock.run_due()
    assert (await admin.post("/reset")).json() == {"fake": "sumsub", "reset": True}
    assert (await admin.get("/journal")).json()["entries"] == []
    faults = (await admin.get("/faults")).json()
    assert (faults["rules"], faults["network"]["rules"]) == ([], [])
    assert (await admin.post(f"/applicants/{applicant.id}/submit")).status_code == 404


async def test_webhooks_due_together_are_in_flight_together_within_the_bound(clock: VirtualClock) -> None:
    in_flight = 0
    most = 0
    release = asyncio.Event()

    @post("/hook", status_code=200)
    async def hook(request: Request[object, object, object]) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if most >= 4:
            release.set()
        await asyncio.wait_for(release.wait(), 5)
        in_flight -= 1

    async with served(Litestar([hook], openapi_config=None, logging_config=None)) as receiver:
        fake = SumsubFake.with_seeded_credentials(clock, Seed(1), webhook_url=f"{receiver.url}/hook",
                                                  webhook_max_in_flight=4)
        try:
            for number in range(12):
                fake.create_applicant(f"customer-{number}", LEVEL)
            await clock.run_due()
        finally:
            await fake.aclose()
    assert most == 4  # side by side, never more than the bound
    assert all(delivery.state == "delivered" for delivery in fake.webhooks.deliveries)

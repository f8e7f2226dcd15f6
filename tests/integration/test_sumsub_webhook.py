"""Sumsub callback intake and processing (contract section 4), through HTTP with a real worker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, text

from service.db.models import CustomerRecord, KycCallbackRecord, OutboxRecord
from service.settings import Settings
from tests.support.waiting import eventually

Client = httpx.AsyncClient
ALGORITHMS = {"HMAC_SHA1_HEX": hashlib.sha1, "HMAC_SHA256_HEX": hashlib.sha256, "HMAC_SHA512_HEX": hashlib.sha512}
T0 = datetime(2026, 5, 4, 9, 12, 40, tzinfo=UTC)


def callback(kind: str, external_user_id: str, second: int, *, answer: str | None = None, reject: str | None = None,
             labels: list[str] | None = None, applicant_id: str | None = None,
             level: str = "basic-kyc-level") -> dict[str, Any]:
    applicant_id = applicant_id or applicant_of(external_user_id)
    body: dict[str, Any] = {
        "applicantId": applicant_id, "inspectionId": applicant_id, "applicantType": "individual",
        "correlationId": uuid.uuid4().hex, "levelName": level, "externalUserId": external_user_id,
        "type": kind, "sandboxMode": True, "reviewStatus": "completed" if answer else "pending",
        "createdAtMs": (T0 + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        "clientId": "examplebank",
    }
    if answer:
        body["reviewResult"] = {"reviewAnswer": answer}
        if answer == "RED":
            body["reviewResult"].update(rejectLabels=labels or ["UNSATISFACTORY_PHOTOS"], reviewRejectType=reject,
                                        moderationComment="Please upload an original photo.",
                                        clientComment="Screenshot submitted instead of a photo.")
    return body


def applicant_of(external_user_id: str) -> str:
    return hashlib.sha256(external_user_id.encode()).hexdigest()[:24]


def signed(body: bytes, secret: str, algorithm: str = "HMAC_SHA256_HEX") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, ALGORITHMS[algorithm]).hexdigest()
    return {"X-Payload-Digest": digest, "X-Payload-Digest-Alg": algorithm, "Content-Type": "application/json"}


async def deliver(api: Client, settings: Settings, payload: dict[str, Any],
                  algorithm: str = "HMAC_SHA256_HEX") -> httpx.Response:
    body = json.dumps(payload).encode()
    assert settings.sumsub_webhook_secret
    return await api.post("/webhooks/sumsub", content=body, headers=signed(body, settings.sumsub_webhook_secret,
                                                                             algorithm))


async def new_customer(api: Client, headers: dict[str, str], customer_type: str = "individual") -> str:
    response = await api.post("/api/customers", headers=headers, json={
        "email": f"kyc.{uuid.uuid4().hex[:12]}@example.com", "customer_type": customer_type})
    assert response.status_code == 201
    return str(response.json()["id"])


async def inbox_rows(app: Litestar, external_user_id: str) -> list[KycCallbackRecord]:
    async with app.state.sessions() as session:
        return list((await session.scalars(select(KycCallbackRecord).where(
            KycCallbackRecord.external_user_id == external_user_id).order_by(KycCallbackRecord.id))).all())


async def settled(app: Litestar, external_user_id: str, count: int) -> list[KycCallbackRecord]:
    async def probe() -> list[KycCallbackRecord]:
        return await inbox_rows(app, external_user_id)
    return await eventually(probe, until=lambda rows: len(rows) == count and all(r.status != "received" for r in rows),
                            what=f"{count} callbacks processed")


async def customer(app: Litestar, customer_id: str) -> CustomerRecord:
    async with app.state.sessions() as session:
        record = await session.get(CustomerRecord, uuid.UUID(customer_id))
        assert record is not None
        return record


async def kyc_events(app: Litestar, customer_id: str) -> list[dict[str, Any]]:
    async with app.state.sessions() as session:
        rows = (await session.scalars(select(OutboxRecord).where(
            OutboxRecord.customer_id == uuid.UUID(customer_id), OutboxRecord.event_type == "CustomerKycUpdated")
            .order_by(OutboxRecord.id))).all()
    return [r.payload for r in rows]


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
async def test_a_signed_callback_is_stored_once_and_acknowledged(api: Client, app: Litestar, settings: Settings,
                                                                 algorithm: str) -> None:
    payload = callback("applicantPending", str(uuid.uuid4()), 1)
    first = await deliver(api, settings, payload, algorithm)
    again = await deliver(api, settings, payload, algorithm)
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    for answer in (first, again):  # the acknowledgement is written by hand: the headers Litestar would send
        assert answer.headers["content-type"] == "application/json"
        assert int(answer.headers["content-length"]) == len(answer.content)
        assert answer.headers["x-request-id"]
    assert len(await inbox_rows(app, payload["externalUserId"])) == 1


def _bad_requests(secret: str) -> dict[str, tuple[bytes, dict[str, Any], int]]:
    body = json.dumps(callback("applicantCreated", str(uuid.uuid4()), 1)).encode()
    other = json.dumps(callback("applicantCreated", str(uuid.uuid4()), 2)).encode()
    sha256 = signed(body, secret)
    return {
        "wrong digest": (body, {**sha256, "X-Payload-Digest": "0" * 64}, 401),
        "digest of another body": (body, signed(other, secret), 401),
        "wrong secret": (body, signed(body, "not-the-secret"), 401),
        "algorithm header swapped": (body, {**sha256, "X-Payload-Digest-Alg": "HMAC_SHA512_HEX"}, 401),
        "unknown algorithm": (body, {**sha256, "X-Payload-Digest-Alg": "MD5_HEX"}, 401),
        "no digest": (body, {"X-Payload-Digest-Alg": "HMAC_SHA256_HEX"}, 401),
        "no algorithm": (body, {"X-Payload-Digest": sha256["X-Payload-Digest"]}, 401),
        "no headers": (body, {}, 401),
        "non-ASCII digest": (body, {**sha256, "X-Payload-Digest": b"\xff" * 64}, 401),
        "not json": (b"{not json", signed(b"{not json", secret), 400),
        "not UTF-8": (b'{"type": "\xff"}', signed(b'{"type": "\xff"}', secret), 400),
        "not an object": (b"[1, 2]", signed(b"[1, 2]", secret), 400),
        "no type": (b'{"externalUserId": "x"}', signed(b'{"externalUserId": "x"}', secret), 400),
        "2 MiB body": (b"{" + b" " * (2 * 1024 * 1024) + b"}", signed(b"{" + b" " * (2 * 1024 * 1024) + b"}",
                                                                      secret), 413),
    }


async def test_bad_callbacks_are_refused_and_nothing_is_stored(api: Client, app: Litestar, settings: Settings) -> None:
    assert settings.sumsub_webhook_secret
    async with app.state.sessions() as session:
        before = await session.scalar(select(func.count()).select_from(KycCallbackRecord))
    for why, (body, headers, status) in _bad_requests(settings.sumsub_webhook_secret).items():
        response = await api.post("/webhooks/sumsub", content=body, headers=headers)
        assert response.status_code == status, why
        assert response.headers["content-type"].startswith("application/problem+json"), why
    async with app.state.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(KycCallbackRecord)) == before


async def test_sandbox_mode_as_a_string_is_accepted(api: Client, settings: Settings) -> None:
    payload = {**callback("applicantPending", str(uuid.uuid4()), 1), "sandboxMode": "false"}
    assert (await deliver(api, settings, payload)).json() == {"status": "accepted"}


@pytest.mark.usefixtures("worker")
async def test_green_approves_and_publishes_customer_kyc_updated_once(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str]) -> None:
    customer_id = await new_customer(api, as_operator)
    for payload in (callback("applicantCreated", customer_id, 0), callback("applicantPending", customer_id, 10),
                    callback("applicantReviewed", customer_id, 20, answer="GREEN")):
        for _ in range(3):
            assert (await deliver(api, settings, payload)).status_code == 200
    rows = await settled(app, customer_id, 3)
    assert [r.status for r in rows] == ["processed", "ignored", "processed"]
    record = await customer(app, customer_id)
    assert (record.kyc_status, record.verification_status, record.kyc_level) == ("approved", "verified", "basic")
    assert record.applicant_id == applicant_of(customer_id)
    events = await kyc_events(app, customer_id)
    assert events[-1]["kyc_status"] == "approved"
    assert sum(e["kyc_status"] == "approved" for e in events) == 1
    shown = (await api.get(f"/api/customers/{customer_id}/kyc/callbacks", headers=as_operator)).json()
    assert [c["type"] for c in shown] == ["applicantCreated", "applicantPending", "applicantReviewed"]


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("ordering", list(itertools.permutations(range(3))))
async def test_every_ordering_of_created_pending_reviewed_ends_approved(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str],
        ordering: tuple[int, ...]) -> None:
    customer_id = await new_customer(api, as_operator)
    lifecycle = [callback("applicantCreated", customer_id, 0), callback("applicantPending", customer_id, 10),
                 callback("applicantReviewed", customer_id, 20, answer="GREEN")]
    for index in ordering:
        await deliver(api, settings, lifecycle[index])
    await settled(app, customer_id, 3)
    record = await customer(app, customer_id)
    assert (record.kyc_status, record.applicant_id) == ("approved", applicant_of(customer_id))


@pytest.mark.usefixtures("worker")
async def test_red_keeps_labels_and_comments_and_a_newer_red_after_green_suspends(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str]) -> None:
    retried = await new_customer(api, as_operator)
    await deliver(api, settings, callback("applicantReviewed", retried, 10, answer="RED", reject="RETRY",
                                          labels=["SCREENSHOTS"]))
    await settled(app, retried, 1)
    shown = (await api.get(f"/api/customers/{retried}", headers=as_operator)).json()
    assert (shown["kyc_status"], shown["verification_status"]) == ("rejected", "rejected")
    assert shown["kyc"]["reject_type"] == "RETRY"
    assert shown["kyc"]["reject_labels"] == ["SCREENSHOTS"]
    assert shown["kyc"]["moderation_comment"] == "Please upload an original photo."
    assert shown["kyc"]["client_comment"] == "Screenshot submitted instead of a photo."
    await deliver(api, settings, callback("applicantReviewed", retried, 30, answer="GREEN"))
    await settled(app, retried, 2)
    assert (await customer(app, retried)).kyc_status == "approved"

    await deliver(api, settings, callback("applicantReviewed", retried, 5, answer="RED", reject="RETRY"))
    await settled(app, retried, 3)
    assert (await customer(app, retried)).kyc_status == "approved"  # older RED: no step backwards

    await deliver(api, settings, callback("applicantReviewed", retried, 60, answer="RED", reject="FINAL",
                                          labels=["FORGERY"]))
    await settled(app, retried, 4)
    record = await customer(app, retried)
    assert (record.kyc_status, record.kyc_reject_type, record.activity_status) == ("rejected", "FINAL", "suspended")
    link = await api.post(f"/api/customers/{retried}/kyc-link", headers=as_operator)
    assert link.status_code == 409


@pytest.mark.usefixtures("worker")
async def test_on_hold_needs_review(api: Client, app: Litestar, settings: Settings,
                                    as_operator: dict[str, str]) -> None:
    customer_id = await new_customer(api, as_operator)
    await deliver(api, settings, callback("applicantOnHold", customer_id, 10))
    await settled(app, customer_id, 1)
    assert (await customer(app, customer_id)).kyc_status == "review_needed"


@pytest.mark.usefixtures("worker")
async def test_unknown_customers_are_orphans_operators_can_see(api: Client, app: Litestar, settings: Settings,
                                                               as_operator: dict[str, str]) -> None:
    stranger = str(uuid.uuid4())
    await deliver(api, settings, callback("applicantReviewed", stranger, 1, answer="GREEN",
                                          applicant_id=uuid.uuid4().hex[:24]))
    rows = await settled(app, stranger, 1)
    assert rows[0].status == "orphan"
    orphans = (await api.get("/api/kyc/callbacks", params={"status": "orphan"}, headers=as_operator)).json()
    assert stranger in {o["external_user_id"] for o in orphans}


@pytest.mark.usefixtures("worker")
async def test_a_review_for_an_unknown_level_is_failed_visibly_not_dropped(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str]) -> None:
    customer_id = await new_customer(api, as_operator)
    await deliver(api, settings, callback("applicantReviewed", customer_id, 1, answer="GREEN", level="vip-level"))
    rows = await settled(app, customer_id, 1)
    assert rows[0].status == "failed"
    assert "vip-level" in (rows[0].last_error or "")
    assert (await customer(app, customer_id)).kyc_status == "not_started"


@pytest.mark.usefixtures("worker")
async def test_a_callback_whose_processing_fails_stays_in_the_inbox_and_is_retried(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str]) -> None:
    customer_id = await new_customer(api, as_operator)
    name = f"refuse_{customer_id[:8]}"
    async with app.state.sessions.begin() as session:
        await session.execute(text(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                                   "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$"))
        await session.execute(text(f"CREATE TRIGGER {name} BEFORE UPDATE ON customers FOR EACH ROW "
                                   f"WHEN (OLD.id = '{customer_id}') EXECUTE FUNCTION {name}()"))
    await deliver(api, settings, callback("applicantReviewed", customer_id, 1, answer="GREEN"))

    async def row() -> KycCallbackRecord:
        return (await inbox_rows(app, customer_id))[0]
    failing = await eventually(row, until=lambda r: r.attempts >= 1 and r.last_error is not None,
                               what="a failed attempt recorded")
    assert failing.status == "received"
    assert "injected failure" in (failing.last_error or "")
    async with app.state.sessions.begin() as session:
        await session.execute(text(f"DROP TRIGGER {name} ON customers"))
    await settled(app, customer_id, 1)
    assert (await customer(app, customer_id)).kyc_status == "approved"


async def test_a_burst_with_copies_and_an_unstorable_body_answers_each_on_its_own(
        api: Client, app: Litestar, settings: Settings) -> None:
    """Callbacks arriving together are stored together; each still gets its own answer."""
    assert settings.sumsub_webhook_secret
    customer_id = str(uuid.uuid4())
    distinct = [callback("applicantPending", customer_id, n) for n in range(20)]
    copies = [distinct[0]] * 5
    poisoned = json.dumps({**callback("applicantPending", customer_id, 99), "note": "\u0000"}).encode()
    bodies = [json.dumps(p).encode() for p in distinct + copies] + [poisoned]
    answers = await asyncio.gather(*(
        api.post("/webhooks/sumsub", content=body, headers=signed(body, settings.sumsub_webhook_secret))
        for body in bodies
    ))
    statuses = [a.json().get("status") if a.status_code == 200 else a.status_code for a in answers]
    assert statuses.count("accepted") == 20
    assert statuses.count("duplicate") == 5
    assert statuses[-1] == 400
    assert len(await inbox_rows(app, customer_id)) == 20

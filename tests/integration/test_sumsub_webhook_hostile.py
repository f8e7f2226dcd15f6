"""Signed callbacks that are odd, oversized or malformed (issue 8): each is answered on its own,
never with a 5xx, never at the cost of its neighbours, and never silently misapplied."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select, text

from service.db.models import CustomerRecord, KycCallbackRecord
from service.settings import Settings
from tests.support.sumsub_callbacks import T0, applicant_of, callback, post_signed
from tests.support.waiting import eventually

Client = httpx.AsyncClient
# words of a database error that must never reach a caller
DATABASE_WORDS = ("postgres", "asyncpg", "psycopg", "jsonb", "sqlstate", "unicode escape", "index row", "injected",
                  "character varying")


def secret_of(settings: Settings) -> str:
    assert settings.sumsub_webhook_secret
    return settings.sumsub_webhook_secret


async def inbox_rows(app: Litestar, external_user_id: str) -> list[KycCallbackRecord]:
    async with app.state.sessions() as session:
        return list((await session.scalars(select(KycCallbackRecord).where(
            KycCallbackRecord.external_user_id == external_user_id).order_by(KycCallbackRecord.id))).all())


async def settled(app: Litestar, external_user_id: str, count: int) -> list[KycCallbackRecord]:
    async def probe() -> list[KycCallbackRecord]:
        return await inbox_rows(app, external_user_id)
    return await eventually(probe, until=lambda rows: len(rows) == count and all(r.status != "received" for r in rows),
                            what=f"{count} callbacks processed")


async def new_customer(api: Client, headers: dict[str, str]) -> str:
    response = await api.post("/api/customers", headers=headers, json={
        "email": f"hostile.{uuid.uuid4().hex[:12]}@example.com", "customer_type": "individual"})
    assert response.status_code == 201
    return str(response.json()["id"])


async def customer(app: Litestar, customer_id: str) -> CustomerRecord:
    async with app.state.sessions() as session:
        record = await session.get(CustomerRecord, uuid.UUID(customer_id))
        assert record is not None
        return record


def assert_plain_400(response: httpx.Response, why: str) -> None:
    assert response.status_code == 400, (why, response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json"), why
    detail = str(response.json()["detail"]).lower()
    assert not any(word in detail for word in DATABASE_WORDS), (why, detail)


async def test_a_6000_character_correlation_id_fails_none_of_40_concurrent_callbacks(
        api: Client, app: Litestar, settings: Settings) -> None:
    owner = str(uuid.uuid4())
    payloads = [callback("applicantPending", owner, n) for n in range(40)]
    payloads[17]["correlationId"] = "c" * 6000
    answers = await asyncio.gather(*(post_signed(api, secret_of(settings), p) for p in payloads))
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"status": "accepted"})] * 40
    rows = await inbox_rows(app, owner)
    assert len(rows) == 40
    assert all(len(r.idempotency_key) <= 200 for r in rows)
    long_one = next(r for r in rows if r.payload["correlationId"] == "c" * 6000)
    assert long_one.correlation_id == "c" * 128  # shown cut; the key is its digest
    again = await post_signed(api, secret_of(settings), payloads[17])
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})


@pytest.mark.parametrize(("sqlstate", "expected"), [
    ("54000", 400),  # program_limit_exceeded, as an oversized index entry raises
    ("22023", 400),  # a data exception
    ("23514", 500),  # an integrity error other than the duplicate key: the schema refuses what intake let in
    ("XX000", 500),  # internal_error
])
async def test_an_error_in_one_row_of_a_concurrent_burst_fails_only_that_row(
        api: Client, app: Litestar, settings: Settings, sqlstate: str, expected: int) -> None:
    owner, poisoned = str(uuid.uuid4()), str(uuid.uuid4())
    name = f"refuse_{poisoned[:8]}"
    async with app.state.sessions.begin() as session:
        await session.execute(text(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                                   f"$$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{sqlstate}'; END $$"))
        await session.execute(text(f"CREATE TRIGGER {name} BEFORE INSERT ON kyc_callbacks FOR EACH ROW "
                                   f"WHEN (NEW.external_user_id = '{poisoned}') EXECUTE FUNCTION {name}()"))
    try:
        payloads = [callback("applicantPending", owner, n) for n in range(40)]
        payloads[20] = callback("applicantPending", poisoned, 0)
        answers = await asyncio.gather(*(post_signed(api, secret_of(settings), p) for p in payloads))
    finally:
        async with app.state.sessions.begin() as session:
            await session.execute(text(f"DROP TRIGGER {name} ON kyc_callbacks"))
            await session.execute(text(f"DROP FUNCTION {name}()"))
    neighbours = answers[:20] + answers[21:]
    assert [a.status_code for a in neighbours] == [200] * 39
    assert len(await inbox_rows(app, owner)) == 39
    guilty = answers[20]
    assert guilty.status_code == expected
    assert "injected" not in guilty.text
    assert await inbox_rows(app, poisoned) == []


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("stamp", ["number", "digit string", "iso 8601"])
async def test_a_newer_red_final_stamped_otherwise_than_sumsub_suspends_after_green(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str], stamp: str) -> None:
    customer_id = await new_customer(api, as_operator)
    green = callback("applicantReviewed", customer_id, 20, answer="GREEN")
    assert (await post_signed(api, secret_of(settings), green)).status_code == 200
    await settled(app, customer_id, 1)
    assert (await customer(app, customer_id)).kyc_status == "approved"

    red = callback("applicantReviewed", customer_id, 60, answer="RED", reject="FINAL", labels=["FORGERY"])
    newer = T0 + timedelta(seconds=60)
    red["createdAtMs"] = {"number": int(newer.timestamp() * 1000), "digit string": str(int(newer.timestamp() * 1000)),
                          "iso 8601": newer.isoformat()}[stamp]
    assert (await post_signed(api, secret_of(settings), red)).json() == {"status": "accepted"}
    rows = await settled(app, customer_id, 2)
    assert [r.status for r in rows] == ["processed", "processed"]
    assert rows[1].event_created_at == newer
    record = await customer(app, customer_id)
    assert (record.kyc_status, record.kyc_reject_type, record.activity_status) == ("rejected", "FINAL", "suspended")


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("created_at_ms", ["yesterday", "0001-01-01T00:00:00+01:00", 1714814000, "", None,
                                           "9" * 40, 1.5e308])
async def test_a_review_whose_time_cannot_be_read_is_held_for_an_operator_not_applied(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str], created_at_ms: Any) -> None:
    customer_id = await new_customer(api, as_operator)
    assert (await post_signed(api, secret_of(settings),
                              callback("applicantReviewed", customer_id, 20, answer="GREEN"))).status_code == 200
    await settled(app, customer_id, 1)
    before = await customer(app, customer_id)
    assert before.kyc_status == "approved"

    red = callback("applicantReviewed", customer_id, 60, answer="RED", reject="FINAL", labels=["FORGERY"])
    if created_at_ms is None:
        del red["createdAtMs"]
    else:
        red["createdAtMs"] = created_at_ms
    answer = await post_signed(api, secret_of(settings), red)
    assert (answer.status_code, answer.json()) == (200, {"status": "accepted"})
    rows = await settled(app, customer_id, 2)
    assert rows[1].status == "failed"
    assert "createdAtMs" in (rows[1].last_error or "")
    after = await customer(app, customer_id)
    assert (after.kyc_status, after.activity_status, after.kyc_reviewed_at) == (
        "approved", before.activity_status, before.kyc_reviewed_at)
    shown = (await api.get("/api/kyc/callbacks", params={"status": "failed", "limit": 500},
                           headers=as_operator)).json()
    held = next(c for c in shown if c["id"] == rows[1].id)
    assert "createdAtMs" in held["last_error"]


def _malformed(marker: str) -> dict[str, bytes]:
    def body(**changes: Any) -> bytes:
        payload = {**callback("applicantReviewed", marker, 5, answer="RED", reject="RETRY"), **changes}
        return json.dumps(payload).encode()

    def review(**changes: Any) -> bytes:
        result = {"reviewAnswer": "RED", "reviewRejectType": "RETRY", "rejectLabels": ["SCREENSHOTS"], **changes}
        return body(reviewResult=result)

    base = callback("applicantPending", marker, 6)
    deep = json.dumps(base)[:-1].encode() + b', "extra": ' + b"[" * 1500 + b"]" * 1500 + b"}"
    fairly_deep = json.dumps(base)[:-1].encode() + b', "extra": ' + b"[" * 100 + b"]" * 100 + b"}"
    huge_number = json.dumps(base)[:-1].encode() + b', "extra": ' + b"9" * 5000 + b"}"
    return {
        "reviewAnswer as an array": review(reviewAnswer=["GREEN"]),
        "reviewAnswer as an object": review(reviewAnswer={"GREEN": True}),
        "reviewRejectType as an array": review(reviewRejectType=["FINAL"]),
        "reviewRejectType as an object": review(reviewRejectType={"FINAL": 1}),
        "rejectLabels as an object": review(rejectLabels={"FORGERY": True}),
        "rejectLabels holding objects": review(rejectLabels=[{"label": "FORGERY"}]),
        "moderationComment as a number": review(moderationComment=3),
        "reviewResult as a list": body(reviewResult=["GREEN"]),
        "createdAtMs as an object": body(createdAtMs={"ms": 1}),
        "createdAtMs as a boolean": body(createdAtMs=True),
        "correlationId as a number": body(correlationId=7),
        "externalUserId as an array": body(externalUserId=[marker]),
        "applicantId as an object": body(applicantId={"id": "x"}),
        "sandboxMode as an object": body(sandboxMode={}),
        "type longer than any Sumsub type": body(type="applicant" + "X" * 200),
        "applicantId longer than any Sumsub id": body(applicantId="a" * 500),
        "externalUserId longer than any of ours": body(externalUserId=marker + "x" * 500),
        "nested 1,500 levels deep": deep,
        "nested 100 levels deep": fairly_deep,
        "a 5,000-digit number": huge_number,
        "a number beyond a double": json.dumps(base)[:-1].encode() + b', "extra": 1e400}',
        "NUL in the type": body(type="applicantPending\u0000"),
        "NUL in the correlationId": body(correlationId="abc\u0000def"),
        "NUL in a field nobody reads": body(note="a\u0000b"),
        "NUL in a key": body(**{"no\u0000te": 1}),
        "NUL in a reject label": review(rejectLabels=["SCREEN\u0000SHOTS"]),
        "a lone surrogate": json.dumps(base)[:-1].encode() + b', "extra": "\\ud800"}',
    }


@pytest.mark.parametrize("case", sorted(_malformed("x")))
async def test_signed_malformed_bodies_get_400_with_a_plain_reason_and_are_not_stored(
        api: Client, app: Litestar, settings: Settings, case: str) -> None:
    marker = str(uuid.uuid4())
    async with app.state.sessions() as session:
        before = await session.scalar(select(func.count()).select_from(KycCallbackRecord))
    response = await post_signed(api, secret_of(settings), _malformed(marker)[case])
    assert_plain_400(response, case)
    async with app.state.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(KycCallbackRecord)) == before


@pytest.mark.usefixtures("worker")
async def test_a_callback_naming_two_customers_is_held_and_changes_neither(
        api: Client, app: Litestar, settings: Settings, as_operator: dict[str, str]) -> None:
    first, second = await new_customer(api, as_operator), await new_customer(api, as_operator)
    for owner in (first, second):
        await post_signed(api, secret_of(settings), callback("applicantCreated", owner, 0))
        await settled(app, owner, 1)
    before = [await customer(app, owner) for owner in (first, second)]
    assert [c.applicant_id for c in before] == [applicant_of(first), applicant_of(second)]

    crossed = callback("applicantReviewed", first, 60, answer="RED", reject="FINAL", labels=["FORGERY"])
    crossed["applicantId"] = applicant_of(second)  # the second customer's applicant, the first customer's id
    stranger = callback("applicantReviewed", first, 61, answer="GREEN")
    stranger["applicantId"] = "f" * 24  # an applicant that is not the first customer's
    for payload in (crossed, stranger):
        assert (await post_signed(api, secret_of(settings), payload)).json() == {"status": "accepted"}
    rows = await settled(app, first, 3)
    assert [r.status for r in rows] == ["processed", "failed", "failed"]
    # whichever of the two customers processing looks at first, the callback is not theirs alone
    assert any(why in (rows[1].last_error or "") for why in ("different customers", "not this customer's applicant"))
    assert "not this customer's applicant" in (rows[2].last_error or "")
    after = [await customer(app, owner) for owner in (first, second)]
    assert [(c.kyc_status, c.activity_status, c.applicant_id) for c in after] == [
        (c.kyc_status, c.activity_status, c.applicant_id) for c in before]

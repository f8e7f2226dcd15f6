"""A property of intake (issue 8): any mix of valid and hostile signed callbacks, sent at once over
HTTP, never gives a 5xx; every valid one is stored exactly once; nothing invalid changes a customer.

Three kinds of delivery are drawn. *Valid*: Sumsub's shape, with odd but legal content (times in
every accepted format, very long correlation ids, unknown fields and types, nulls, any Unicode).
*Held*: well-formed but not applicable (a review whose time or answer cannot be read): stored,
acknowledged and failed for an operator. *Hostile*: a field the service reads has the wrong type or
length, a NUL escape anywhere, nesting too deep, numbers too large, not JSON: refused with a 400.
The customers' final state must be the fold of the valid callbacks alone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from sqlalchemy import select

from service.customers.domain import ActivityStatus
from service.db.models import CustomerRecord, KycCallbackRecord
from service.kyc.domain import KycFacts, fold, parse_callback
from service.settings import Settings
from tests.support.sumsub_callbacks import T0, applicant_of, post_signed, sumsub_ms
from tests.support.waiting import eventually

VALID, HELD, HOSTILE = "valid", "held", "hostile"
STATE_CHANGING_KINDS = ["applicantCreated", "applicantOnHold", "green", "red_retry", "red_final"]
OTHER_KINDS = ["applicantPending", "applicantPersonalInfoChanged", "somethingSumsubAddsLater"]

text_without_nul = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
json_leaf = (st.none() | st.booleans() | st.integers(-(10**30), 10**30)
             | st.floats(allow_nan=False, allow_infinity=False) | text_without_nul)
shallow_json = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    text_without_nul, inner, max_size=3), max_leaves=6)


@dataclass(frozen=True)
class Draft:
    """A delivery before it is bound to a customer: ``build`` makes the body."""

    kind: str  # VALID, HELD or HOSTILE
    target: int  # which of the example's customers
    step: str
    second: int
    stamp: str
    correlation_padding: int
    extras: dict[str, Any]
    mutation: tuple[str, Any] | None
    resend: bool


def _stamp(second: int, form: str) -> Any:
    moment = T0 + timedelta(seconds=second)
    millis = int(moment.timestamp() * 1000)
    return {
        "sumsub": sumsub_ms(moment),
        "iso utc": moment.isoformat(),
        "iso z": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "iso offset": moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        "epoch ms": millis,
        "epoch ms text": str(millis),
    }[form]


def _payload(draft: Draft, customer_id: str, correlation_id: str) -> dict[str, Any]:
    applicant_id = applicant_of(customer_id)
    kind = {"green": "applicantReviewed", "red_retry": "applicantReviewed", "red_final": "applicantReviewed"}.get(
        draft.step, draft.step)
    payload: dict[str, Any] = {
        **draft.extras,
        "applicantId": applicant_id, "inspectionId": applicant_id, "applicantType": "individual",
        "correlationId": correlation_id + "x" * draft.correlation_padding, "levelName": "basic-kyc-level",
        "externalUserId": customer_id, "type": kind, "sandboxMode": True, "reviewStatus": "completed",
        "createdAtMs": _stamp(draft.second, draft.stamp), "clientId": "examplebank", "videoIdentReviewStatus": None,
    }
    if draft.step == "green":
        payload["reviewResult"] = {"reviewAnswer": "GREEN"}
    elif draft.step in ("red_retry", "red_final"):
        payload["reviewResult"] = {"reviewAnswer": "RED", "rejectLabels": ["BAD_SELFIE", "ünïcødé ✓"],
                                   "reviewRejectType": "RETRY" if draft.step == "red_retry" else "FINAL",
                                   "moderationComment": "Bitte ein neues Foto 📷", "clientComment": None}
    return payload


def _set(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        if not isinstance(payload.get(name), dict):
            payload[name] = {"reviewAnswer": "RED"}
        payload = payload[name]
    payload[last] = value


def build(draft: Draft, customer_id: str, correlation_id: str) -> bytes:
    payload = _payload(draft, customer_id, correlation_id)
    if draft.mutation is None:
        return json.dumps(payload).encode()
    where, value = draft.mutation
    if where == "raw extra":  # text spliced in as the value of one more field: nesting, huge numbers, junk
        return json.dumps(payload)[:-1].encode() + b', "extra": ' + value + b"}"
    if where == "truncated":
        return json.dumps(payload).encode()[:value]
    if where == "delete":
        del payload[value]
        return json.dumps(payload).encode()
    _set(payload, where, value)
    return json.dumps(payload).encode()


WRONG_TYPES: dict[str, list[Any]] = {
    "type": [None, 7, [], {}, True, "", "applicant" + "X" * 60],
    "externalUserId": [7, ["x"], {}, True, "x" * 129],
    "applicantId": [7, [], {"id": 1}, "a" * 65],
    "correlationId": [7, [], {}, False],
    "createdAtMs": [[], {"ms": 1}, True],
    "levelName": [7, [], {}],
    "sandboxMode": [7, [], {}],
    "reviewResult": [7, [], "GREEN", True],
    "reviewResult.reviewAnswer": [7, ["GREEN"], {"GREEN": 1}, True],
    "reviewResult.reviewRejectType": [["FINAL"], {}, 1],
    "reviewResult.rejectLabels": ["FORGERY", {}, [1], [None], [["x"]]],
    "reviewResult.moderationComment": [1, [], {}],
    "reviewResult.clientComment": [1.5, [], {}],
}
NUL_PLACES = ["type", "externalUserId", "correlationId", "createdAtMs", "levelName", "clientId",
              "reviewResult.moderationComment", "note", "reviewResult.rejectLabels"]
RAW_EXTRAS = [b"[" * 40 + b"]" * 40, b"[" * 1500 + b"]" * 1500, b'{"a":' * 200 + b"1" + b"}" * 200,
              b"9" * 5000, b"1e400", b"-1e999", b'"\\ud800"', b'"\\udc00x"', b"NaN", b"'single'"]
UNREADABLE_TIMES = ["yesterday", "0001-01-01T00:00:00+01:00", 1714814000, "", "2026-13-45 99:99:99.000", 1.5e308,
                    "9" * 40, -1,
                    "".join(chr(0xFF10 + int(d)) for d in "1714814000123")]  # in FULLWIDTH digits


@st.composite
def drafts(draw: st.DrawFn) -> Draft:
    kind = draw(st.sampled_from([VALID, VALID, HELD, HOSTILE, HOSTILE]))
    step = draw(st.sampled_from(STATE_CHANGING_KINDS + OTHER_KINDS))
    mutation: tuple[str, Any] | None = None
    if kind == HELD:
        step = draw(st.sampled_from(STATE_CHANGING_KINDS))
        mutation = draw(st.one_of(
            st.tuples(st.just("createdAtMs"), st.sampled_from(UNREADABLE_TIMES)),
            st.tuples(st.just("delete"), st.just("createdAtMs")),
            *([st.tuples(st.just("reviewResult.reviewAnswer"), st.sampled_from(["YELLOW", "green", None])),
               st.tuples(st.just("reviewResult.reviewRejectType"), st.sampled_from(["MAYBE", "final"]))]
              if step in ("red_retry", "red_final") else []),
        ))
    elif kind == HOSTILE:
        mutation = draw(st.one_of(
            st.sampled_from(sorted(WRONG_TYPES)).flatmap(
                lambda field: st.tuples(st.just(field), st.sampled_from(WRONG_TYPES[field]))),
            st.tuples(st.sampled_from(NUL_PLACES), st.sampled_from(["\x00", "a\x00b", "\x00" * 3])),
            st.tuples(st.just("no\x00te"), st.just(1)),
            st.tuples(st.just("raw extra"), st.sampled_from(RAW_EXTRAS)),
            st.tuples(st.just("truncated"), st.integers(1, 60)),
        ))
        # a NUL inside a label; a bare string without one ("FORGERY") stays a string, the wrong type it is drawn as
        if mutation[0] == "reviewResult.rejectLabels" and isinstance(mutation[1], str) and "\x00" in mutation[1]:
            mutation = ("reviewResult.rejectLabels", [mutation[1]])
    return Draft(
        kind=kind, target=draw(st.integers(0, 1)), step=step, second=draw(st.integers(0, 3600)),
        stamp=draw(st.sampled_from(["sumsub", "iso utc", "iso z", "iso offset", "epoch ms", "epoch ms text"])),
        correlation_padding=draw(st.sampled_from([0, 0, 0, 300, 6000])),
        extras=draw(st.dictionaries(st.sampled_from(["note", "metadata", "buttonIds", "applicantMemberOf"]),
                                    shallow_json, max_size=2)),
        mutation=mutation, resend=draw(st.booleans()) and kind != HOSTILE,
    )


async def _new_customer(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await api.post("/api/customers", headers=headers, json={
        "email": f"prop.{uuid.uuid4().hex[:12]}@example.com", "customer_type": "individual"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _rows(app: Litestar, customer_ids: list[str]) -> list[KycCallbackRecord]:
    async with app.state.sessions() as session:
        return list((await session.scalars(select(KycCallbackRecord).where(
            KycCallbackRecord.external_user_id.in_(customer_ids)).order_by(KycCallbackRecord.id))).all())


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(drafts(), min_size=1, max_size=14))
# rejectLabels as a bare string: once drawn and turned into a valid list by mistake
@example(batch=[Draft(kind=HOSTILE, target=0, step="applicantCreated", second=0, stamp="sumsub", correlation_padding=0,
                      extras={}, mutation=("reviewResult.rejectLabels", "FORGERY"), resend=False)])
async def test_any_mix_of_valid_and_hostile_signed_callbacks(
        api: httpx.AsyncClient, app: Litestar, settings: Settings, as_operator: dict[str, str], worker: Any,
        batch: list[Draft]) -> None:
    assert settings.sumsub_webhook_secret
    secret = settings.sumsub_webhook_secret
    customers = [await _new_customer(api, as_operator) for _ in range(2)]
    run = uuid.uuid4().hex[:12]
    sent: list[tuple[Draft, str, bytes]] = []
    for index, draft in enumerate(batch):
        correlation_id = f"{run}-{index}-"  # then padded with x
        body = build(draft, customers[draft.target], correlation_id)
        sent.extend([(draft, correlation_id, body)] * (2 if draft.resend else 1))

    answers = await asyncio.gather(*(post_signed(api, secret, body) for _, _, body in sent))

    for (draft, _, body), answer in zip(sent, answers, strict=True):
        assert answer.status_code < 500, (draft, body[:200], answer.text)
        if draft.kind == HOSTILE:
            assert answer.status_code == 400, (draft, body[:200], answer.text)
        else:
            assert answer.status_code == 200, (draft, body[:200], answer.text)
            assert answer.json()["status"] in ("accepted", "duplicate")

    stored_kinds = {correlation_id: draft.kind for draft, correlation_id, _ in sent if draft.kind != HOSTILE}
    rows = await eventually(lambda: _rows(app, customers),
                            until=lambda rows: len(rows) >= len(stored_kinds) and all(
                                r.status != "received" for r in rows),
                            what="every stored callback processed", timeout=30)
    stored = [(str(r.payload["correlationId"]).rstrip("x"), r) for r in rows]
    assert sorted(c for c, _ in stored) == sorted(stored_kinds), "each valid callback stored exactly once"
    for correlation_id, row in stored:
        if stored_kinds[correlation_id] == HELD:
            assert row.status == "failed", (row.payload, row.status)
            assert row.last_error

    for target, customer_id in enumerate(customers):
        valid = [(r.id, parse_callback(r.payload)) for c, r in stored
                 if stored_kinds[c] == VALID and r.external_user_id == customer_id]
        expected = fold(KycFacts.initial(link_created=False), valid)
        async with app.state.sessions() as session:
            record = await session.get(CustomerRecord, uuid.UUID(customer_id))
        assert record is not None
        assert (record.kyc_status, record.verification_status, record.kyc_level) == (
            expected.kyc_status.value, expected.verification_status.value, expected.kyc_level.value), target
        assert record.kyc_reject_type == (expected.reject_type.value if expected.reject_type else None)
        assert tuple(record.kyc_reject_labels or ()) == expected.reject_labels
        assert record.kyc_reviewed_at == (expected.reviewed_at.astimezone(UTC) if expected.reviewed_at else None)
        assert (record.activity_status == ActivityStatus.SUSPENDED.value) == expected.suspend
        assert record.applicant_id == expected.applicant_id

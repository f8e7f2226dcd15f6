"""Reading a Sumsub callback at the door: types, bounds, times, keys and what can be stored."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.db.models import KycCallbackRecord
from service.kyc.domain import (
    APPLICANT_ID_MAX,
    CORRELATION_ID_SHOWN,
    CREATED_AT_MS_SHOWN,
    EXTERNAL_USER_ID_MAX,
    IDEMPOTENCY_KEY_MAX,
    TYPE_MAX,
    CallbackError,
    KycFacts,
    decode_callback,
    fold,
    idempotency_key,
    parse_created_at_ms,
)
from service.kyc.inbox import MAX_DEPTH, storage_problem

MOMENT = datetime(2026, 5, 4, 9, 12, 40, 118000, tzinfo=UTC)
MILLIS = int(MOMENT.timestamp() * 1000)


def body(**fields: Any) -> bytes:
    payload = {"type": "applicantReviewed", "externalUserId": "customer-1", "applicantId": "6650c1a2b3c4d5e6f7a8b9c0",
               "correlationId": "c1", "createdAtMs": "2026-05-04 09:12:40.118", "levelName": "basic-kyc-level",
               "reviewResult": {"reviewAnswer": "GREEN"}, **fields}
    return json.dumps(payload).encode()


@pytest.mark.parametrize("raw", [
    "2026-05-04 09:12:40.118", "2026-05-04T09:12:40.118Z", "2026-05-04T11:12:40.118+02:00",
    "2026-05-04T09:12:40.118", MILLIS, str(MILLIS), f" {MILLIS} ", float(MILLIS),
])
def test_created_at_ms_is_read_in_sumsubs_format_iso_8601_and_epoch_milliseconds(raw: Any) -> None:
    assert parse_created_at_ms(raw) == MOMENT


@pytest.mark.parametrize("raw", [
    None, "", "yesterday", True, [], {}, float("nan"), float("inf"), 1.5e308, -1,
    1714814000,  # epoch seconds: read as milliseconds it would be 1970, the oldest event of all
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC (OverflowError)
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    "9" * 40, "1" * 5000, "".join(chr(0xFF10 + int(d)) for d in str(MILLIS)),  # FULLWIDTH digits
    "2026-05-04 09:12:40.118" + "0" * 100,
])
def test_a_created_at_ms_that_is_not_a_plausible_time_is_unreadable(raw: Any) -> None:
    assert parse_created_at_ms(raw) is None


@pytest.mark.parametrize(("fields", "where"), [
    ({"reviewResult": {"reviewAnswer": ["GREEN"]}}, "$.reviewResult.reviewAnswer"),
    ({"reviewResult": {"reviewAnswer": "RED", "reviewRejectType": {"x": 1}}}, "$.reviewResult.reviewRejectType"),
    ({"reviewResult": {"reviewAnswer": "RED", "rejectLabels": [1]}}, "$.reviewResult.rejectLabels[0]"),
    ({"createdAtMs": {"ms": 1}}, "$.createdAtMs"),
    ({"createdAtMs": True}, "$.createdAtMs"),
    ({"sandboxMode": []}, "$.sandboxMode"),
    ({"type": "x" * (TYPE_MAX + 1)}, "$.type"),
    ({"applicantId": "a" * (APPLICANT_ID_MAX + 1)}, "$.applicantId"),
    ({"externalUserId": "e" * (EXTERNAL_USER_ID_MAX + 1)}, "$.externalUserId"),
    ({"type": None}, "$.type"),
])
def test_every_field_the_service_reads_is_type_checked_with_a_plain_reason(fields: dict[str, Any],
                                                                           where: str) -> None:
    with pytest.raises(CallbackError, match=re.escape(f"at `{where}`")):
        decode_callback(body(**fields))


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    deep = body()[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(CallbackError, match="nested too deeply"):
        decode_callback(deep)


def test_fields_nobody_reads_may_hold_anything() -> None:
    callback = decode_callback(body(reviewStatus={"odd": [1, 2]}, createdAt=7, buttonIds="x", clientId=None))
    assert callback.review_answer is not None
    assert callback.defect is None


@pytest.mark.parametrize(("fields", "reason"), [
    ({"createdAtMs": "yesterday"}, "createdAtMs 'yesterday' is not a time"),
    ({"createdAtMs": 1714814000}, "createdAtMs 1714814000 is not a time"),
    ({"createdAtMs": None}, "createdAtMs is missing"),
    ({"reviewResult": {"reviewAnswer": "YELLOW"}}, "reviewAnswer 'YELLOW' is neither GREEN nor RED"),
    ({"reviewResult": None}, "reviewAnswer None is neither GREEN nor RED"),
    ({"reviewResult": {"reviewAnswer": "RED", "reviewRejectType": "MAYBE"}}, "reviewRejectType 'MAYBE'"),
])
def test_a_state_changing_callback_that_cannot_be_placed_or_read_is_defective_and_never_folded(
        fields: dict[str, Any], reason: str) -> None:
    callback = decode_callback(body(**fields))
    assert callback.defect is not None
    assert reason in callback.defect
    start = KycFacts.initial(link_created=True)
    assert fold(start, [(1, callback)]) == start


def test_informational_callbacks_need_no_readable_time() -> None:
    assert decode_callback(body(type="applicantPending", createdAtMs="yesterday")).defect is None


def test_a_newer_review_stamped_in_epoch_milliseconds_wins_over_an_older_one_in_sumsubs_format() -> None:
    green = decode_callback(body())
    red = decode_callback(body(correlationId="c2", createdAtMs=MILLIS + 60_000, reviewResult={
        "reviewAnswer": "RED", "reviewRejectType": "FINAL", "rejectLabels": ["FORGERY"]}))
    facts = fold(KycFacts.initial(link_created=True), [(2, red), (1, green)])
    assert facts.suspend
    assert facts.reviewed_at == MOMENT + timedelta(seconds=60)


def test_the_idempotency_key_is_readable_when_short_and_a_bounded_digest_when_long() -> None:
    short = decode_callback(body())
    assert idempotency_key(short, b"") == "applicantReviewed:c1:2026-05-04 09:12:40.118"
    assert idempotency_key(decode_callback(body(createdAtMs=MILLIS)), b"") == f"applicantReviewed:c1:{MILLIS}"
    long_one = decode_callback(body(correlationId="c" * 6000))
    other = decode_callback(body(correlationId="c" * 5999 + "d"))
    assert len(idempotency_key(long_one, b"")) <= IDEMPOTENCY_KEY_MAX
    assert idempotency_key(long_one, b"").startswith("key-sha256:")
    assert idempotency_key(long_one, b"") != idempotency_key(other, b"")
    assert idempotency_key(long_one, b"x") == idempotency_key(long_one, b"y")  # the key, not the body
    multibyte = decode_callback(body(correlationId="é" * (IDEMPOTENCY_KEY_MAX // 2)))
    assert len(idempotency_key(multibyte, b"").encode()) <= 4 * IDEMPOTENCY_KEY_MAX


def test_the_inbox_columns_hold_what_intake_lets_in() -> None:
    columns = KycCallbackRecord.__table__.c
    assert columns.idempotency_key.type.length == IDEMPOTENCY_KEY_MAX
    assert columns.type.type.length == TYPE_MAX
    assert columns.external_user_id.type.length == EXTERNAL_USER_ID_MAX
    assert columns.applicant_id.type.length == APPLICANT_ID_MAX
    assert columns.correlation_id.type.length == CORRELATION_ID_SHOWN
    assert columns.created_at_ms.type.length == CREATED_AT_MS_SHOWN


@pytest.mark.parametrize(("raw", "reason"), [
    (body(note="a\u0000b"), "NUL"),
    (body(**{"no\u0000te": 1}), "NUL"),
    (body(correlationId="\u0000"), "NUL"),
    (body()[:-1] + b', "x": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}", "nested deeper"),
    (body()[:-1] + b', "x": ' + b"9" * 5000 + b"}", "too large"),
    (body()[:-1] + b', "x": 1e400}', "too large"),
])
def test_what_the_inbox_cannot_store_or_read_back_is_named(raw: bytes, reason: str) -> None:
    problem = storage_problem(raw)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("raw", [
    body(), body(note="a\\u0000b"),  # an escaped backslash before u0000 is no NUL
    body()[:-1] + b', "x": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}",
    body(many=[{"a": [1]}] * 40), body(number=9 ** 100),
])
def test_ordinary_bodies_can_be_stored(raw: bytes) -> None:
    assert storage_problem(raw) is None

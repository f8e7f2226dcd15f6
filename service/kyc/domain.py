"""What Sumsub's callbacks mean for a customer's KYC state, in plain Python.

Callbacks arrive duplicated, late and out of order. The state is therefore not patched event by
event but *folded*: the customer's KYC facts are the result of applying every state-changing
callback received so far in ``createdAtMs`` order to the state the customer had before any
review. Whatever the order of arrival, the same set of callbacks gives the same state, and a late
older event can never move the state backwards.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from service.customers.domain import KycLevel, KycStatus, VerificationStatus

__all__ = [
    "APPLICANT_ID_MAX",
    "CORRELATION_ID_SHOWN",
    "CREATED_AT_MS_SHOWN",
    "EXTERNAL_USER_ID_MAX",
    "IDEMPOTENCY_KEY_MAX",
    "STATE_CHANGING",
    "TYPE_MAX",
    "Callback",
    "CallbackError",
    "CallbackStatus",
    "KycFacts",
    "RejectType",
    "ReviewAnswer",
    "decode_callback",
    "fold",
    "idempotency_key",
    "json_object",
    "parse_callback",
    "parse_created_at_ms",
]


class ReviewAnswer(StrEnum):
    GREEN = "GREEN"
    RED = "RED"


class RejectType(StrEnum):
    RETRY = "RETRY"
    FINAL = "FINAL"


class CallbackStatus(StrEnum):
    """Where an inbox row's processing stands."""

    RECEIVED = "received"  # stored, not processed yet
    PROCESSED = "processed"  # a state-changing callback, folded into the customer's state
    IGNORED = "ignored"  # informational or unknown type: recorded, no state change
    ORPHAN = "orphan"  # for no customer this service knows
    FAILED = "failed"  # held for an operator: never applied


APPLICANT_CREATED = "applicantCreated"
APPLICANT_REVIEWED = "applicantReviewed"
APPLICANT_ON_HOLD = "applicantOnHold"
STATE_CHANGING = frozenset({APPLICANT_CREATED, APPLICANT_REVIEWED, APPLICANT_ON_HOLD})

# Bounds of the fields kept in columns of their own. Sumsub's types are short camelCase words and
# its applicant ids 24 hex digits; our externalUserId is a UUID. A longer value is not a callback
# of ours: it is refused (400) rather than cut, since these columns find a customer's history.
TYPE_MAX = 64
EXTERNAL_USER_ID_MAX = 128
APPLICANT_ID_MAX = 64
# The readable parts of the idempotency key are shown to operators cut to these lengths; the key
# itself stays exact (a digest past IDEMPOTENCY_KEY_MAX), so cutting never merges two callbacks.
CORRELATION_ID_SHOWN = 128
CREATED_AT_MS_SHOWN = 64
IDEMPOTENCY_KEY_MAX = 200


class CallbackError(ValueError):
    """The body is not a callback this service can take (answered with 400)."""


class _ReviewResult(msgspec.Struct, rename="camel"):
    review_answer: str | None = None
    review_reject_type: str | None = None
    reject_labels: list[str] | None = None
    moderation_comment: str | None = None
    client_comment: str | None = None


class _SumsubCallback(msgspec.Struct, rename="camel"):
    """Every field of a Sumsub callback this service reads, with its JSON type and bounds. Other
    fields are kept in the stored body but never read, so their types do not matter here."""

    type: Annotated[str, msgspec.Meta(min_length=1, max_length=TYPE_MAX)]
    external_user_id: Annotated[str, msgspec.Meta(max_length=EXTERNAL_USER_ID_MAX)] | None = None
    applicant_id: Annotated[str, msgspec.Meta(max_length=APPLICANT_ID_MAX)] | None = None
    correlation_id: str | None = None
    # Sumsub writes "YYYY-MM-DD HH:MM:SS.mmm"; some senders ISO 8601 or epoch milliseconds
    created_at_ms: str | int | float | None = None
    level_name: str | None = None
    # a boolean in real captures; Sumsub's documentation shows the string "false"
    sandbox_mode: bool | str | None = None
    review_result: _ReviewResult | None = None


@dataclass(frozen=True)
class Callback:
    type: str
    external_user_id: str | None
    applicant_id: str | None
    correlation_id: str | None
    created_at: datetime | None
    level_name: str | None
    review_answer: ReviewAnswer | None = None
    reject_type: RejectType | None = None
    reject_labels: tuple[str, ...] = ()
    moderation_comment: str | None = None
    client_comment: str | None = None
    sandbox: bool = False
    # createdAtMs as received, as text (a number in its decimal form); part of the idempotency key
    created_at_ms: str | None = None
    # why a state-changing callback cannot be applied (it is held for an operator), or None
    defect: str | None = None


# Epoch milliseconds have 13 digits from 2001-09-09 to 2286-11-20. Outside that window a number is
# more likely seconds (10 digits) or garbage than a time, and guessing would misorder the fold; every
# format is held to the same window, so "readable" means one thing.
_EARLIEST_MS, _LATEST_MS = 10**12, 10**13
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST, _LATEST = _EPOCH + timedelta(milliseconds=_EARLIEST_MS), _EPOCH + timedelta(milliseconds=_LATEST_MS)


def _from_epoch_ms(value: float) -> datetime | None:
    if not math.isfinite(value) or not _EARLIEST_MS <= value < _LATEST_MS:
        return None
    return _EPOCH + timedelta(milliseconds=value)


def parse_created_at_ms(raw: Any) -> datetime | None:
    """``createdAtMs`` as a UTC time: Sumsub's ``"YYYY-MM-DD HH:MM:SS.fff"`` (UTC), ISO 8601 (UTC
    when no offset is given), or epoch milliseconds as a number or a digit string. None when absent
    or unreadable."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return _from_epoch_ms(raw)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > CREATED_AT_MS_SHOWN:
        return None
    if text.isascii() and text.isdigit():
        return _from_epoch_ms(int(text))
    try:
        # Sumsub's form is ISO 8601 with a space for the "T"; without an offset a time is UTC
        parsed = datetime.fromisoformat(text)
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None
    return parsed if _EARLIEST <= parsed < _LATEST else None


def _ms_text(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw or None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return repr(raw)
    return None


def _text(value: str | None) -> str | None:
    return value or None


def json_object(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _shown(value: Any, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + "…"


def _defect(wire: _SumsubCallback, created_at: datetime | None) -> str | None:
    if wire.type not in STATE_CHANGING:
        return None
    if created_at is None:
        if wire.created_at_ms is None:
            return "createdAtMs is missing: the callback cannot be placed in order"
        return (f"createdAtMs {_shown(wire.created_at_ms)} is not a time (expected Sumsub's "
                "'YYYY-MM-DD HH:MM:SS.mmm', ISO 8601 or 13-digit epoch milliseconds)")
    if wire.type != APPLICANT_REVIEWED:
        return None
    review = wire.review_result or _ReviewResult()
    if review.review_answer not in ReviewAnswer.__members__:
        return f"reviewAnswer {_shown(review.review_answer)} is neither GREEN nor RED"
    if review.review_answer == ReviewAnswer.RED and review.review_reject_type not in (None, *RejectType):
        return f"reviewRejectType {_shown(review.review_reject_type)} is neither RETRY nor FINAL"
    return None


def _callback(wire: _SumsubCallback) -> Callback:
    review = wire.review_result or _ReviewResult()
    created_at = parse_created_at_ms(wire.created_at_ms)
    answer, reject_type = review.review_answer, review.review_reject_type
    return Callback(
        type=wire.type,
        external_user_id=_text(wire.external_user_id),
        applicant_id=_text(wire.applicant_id),
        correlation_id=_text(wire.correlation_id),
        created_at=created_at,
        level_name=_text(wire.level_name),
        review_answer=ReviewAnswer(answer) if answer is not None and answer in ReviewAnswer.__members__ else None,
        reject_type=(RejectType(reject_type) if reject_type is not None and reject_type in RejectType.__members__
                     else None),
        reject_labels=tuple(review.reject_labels or ()),
        moderation_comment=_text(review.moderation_comment),
        client_comment=_text(review.client_comment),
        sandbox=wire.sandbox_mode is True or (
            isinstance(wire.sandbox_mode, str) and wire.sandbox_mode.strip().lower() == "true"),
        created_at_ms=_ms_text(wire.created_at_ms),
        defect=_defect(wire, created_at),
    )


def _refusal(exc: Exception) -> CallbackError:
    return CallbackError(f"the callback does not fit Sumsub's format: {exc}")


def decode_callback(body: bytes) -> Callback:
    """The callback in a raw body; CallbackError (a 400) when it is not JSON or a field the
    service reads has the wrong type or length."""
    try:
        return _callback(msgspec.json.decode(body, type=_SumsubCallback))
    except msgspec.ValidationError as exc:
        raise _refusal(exc) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CallbackError("the body is not JSON in UTF-8") from exc
    except RecursionError as exc:
        raise CallbackError("the JSON is nested too deeply") from exc


def parse_callback(payload: Any) -> Callback:
    """The callback in an already decoded body (a stored one, say); CallbackError when it does not fit."""
    try:
        return _callback(msgspec.convert(payload, _SumsubCallback))
    except msgspec.ValidationError as exc:
        raise _refusal(exc) from exc
    except RecursionError as exc:
        raise CallbackError("the JSON is nested too deeply") from exc


def idempotency_key(callback: Callback | Mapping[str, Any], raw_body: bytes) -> str:
    """``type:correlationId:createdAtMs``, or a digest of the body when any of the three is missing.

    Never longer than IDEMPOTENCY_KEY_MAX: a longer key is replaced by its own digest, so whatever a
    signed body holds, its key fits the UNIQUE index, and two distinct keys stay distinct.
    """
    if not isinstance(callback, Callback):
        callback = parse_callback(callback)
    parts = (callback.type, callback.correlation_id, callback.created_at_ms)
    if not all(parts):
        return "sha256:" + hashlib.sha256(raw_body).hexdigest()
    key = ":".join(parts)  # type: ignore[arg-type]  # all three are non-empty strings here
    if len(key) <= IDEMPOTENCY_KEY_MAX:
        return key
    # the same digest that migration 0006 gives the long keys stored before it
    return "key-sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KycFacts:
    """A customer's KYC state, as far as callbacks decide it."""

    kyc_status: KycStatus
    verification_status: VerificationStatus
    kyc_level: KycLevel
    applicant_id: str | None = None
    reject_type: RejectType | None = None
    reject_labels: tuple[str, ...] = ()
    moderation_comment: str | None = None
    client_comment: str | None = None
    reviewed_at: datetime | None = None
    # a RED review came after an approval: the customer must be suspended (never undone here)
    suspend: bool = False
    # "a RED after an approval" looks at the whole timeline, not at the status just before the RED:
    # then adding callbacks never takes a suspension away, and the result cannot depend on arrival
    approved_once: bool = field(default=False, compare=False)

    @classmethod
    def initial(cls, *, link_created: bool, applicant_id: str | None = None) -> KycFacts:
        return cls(
            kyc_status=KycStatus.PENDING if link_created else KycStatus.NOT_STARTED,
            verification_status=VerificationStatus.PENDING_VERIFICATION,
            kyc_level=KycLevel.NOT_KYCED,
            applicant_id=applicant_id,
        )


def _apply(facts: KycFacts, callback: Callback) -> KycFacts:
    if callback.applicant_id and facts.applicant_id is None:
        facts = replace(facts, applicant_id=callback.applicant_id)
    if callback.type == APPLICANT_CREATED:
        if facts.kyc_status is KycStatus.NOT_STARTED:
            facts = replace(facts, kyc_status=KycStatus.PENDING)
    elif callback.type == APPLICANT_ON_HOLD:
        facts = replace(facts, kyc_status=KycStatus.REVIEW_NEEDED)
    elif callback.type == APPLICANT_REVIEWED and callback.review_answer is ReviewAnswer.GREEN:
        facts = replace(facts, kyc_status=KycStatus.APPROVED, verification_status=VerificationStatus.VERIFIED,
                        kyc_level=KycLevel.BASIC, reject_type=None, reject_labels=(), moderation_comment=None,
                        client_comment=None, reviewed_at=callback.created_at, approved_once=True)
    elif callback.type == APPLICANT_REVIEWED and callback.review_answer is ReviewAnswer.RED:
        facts = replace(facts, kyc_status=KycStatus.REJECTED, verification_status=VerificationStatus.REJECTED,
                        kyc_level=KycLevel.NOT_KYCED, reject_type=callback.reject_type or RejectType.RETRY,
                        reject_labels=callback.reject_labels, moderation_comment=callback.moderation_comment,
                        client_comment=callback.client_comment, reviewed_at=callback.created_at,
                        suspend=facts.suspend or facts.approved_once)
    return facts


def _order(item: tuple[int, Callback]) -> tuple[datetime, int]:
    sequence, callback = item
    return (callback.created_at or _EARLIEST, sequence)


def fold(start: KycFacts, callbacks: Iterable[tuple[int, Callback]]) -> KycFacts:
    """Apply the state-changing ``(arrival sequence, callback)`` pairs in ``createdAtMs`` order.

    Ties on ``createdAtMs`` are broken by arrival. Informational and unknown types are skipped, and
    so are defective callbacks (no readable time, an unknown answer): they are held, not guessed at.
    """
    facts = start
    applicable = (c for c in callbacks
                  if c[1].type in STATE_CHANGING and c[1].defect is None and c[1].created_at is not None)
    for _, callback in sorted(applicable, key=_order):
        facts = _apply(facts, callback)
    return facts

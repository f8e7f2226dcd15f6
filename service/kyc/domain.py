"""What Sumsub's callbacks mean for a customer's KYC state, in plain Python.

Callbacks arrive duplicated, late and out of order. The state is therefore not patched event by
event but *folded*: the customer's KYC facts are the result of applying every state-changing
callback received so far in ``createdAtMs`` order to the state the customer had before any
review. Whatever the order of arrival, the same set of callbacks gives the same state, and a late
older event can never move the state backwards.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from service.customers.domain import KycLevel, KycStatus, VerificationStatus

__all__ = [
    "STATE_CHANGING",
    "Callback",
    "CallbackError",
    "CallbackStatus",
    "KycFacts",
    "RejectType",
    "ReviewAnswer",
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


class CallbackError(ValueError):
    """The body is not a callback this service can take (answered with 400)."""


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


_SUMSUB_MS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$")


def parse_created_at_ms(raw: Any) -> datetime | None:
    """Sumsub's ``"YYYY-MM-DD HH:MM:SS.fff"`` (UTC) or ISO-8601; None when absent or unreadable."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    try:
        if _SUMSUB_MS.match(text):
            return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(payload: Mapping[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and value else None


def json_object(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _flag(value: Any) -> bool:
    # real captures send a boolean; Sumsub's documentation shows the string "false"
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def parse_callback(payload: Any) -> Callback:
    if not isinstance(payload, dict):
        raise CallbackError("the body is not a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise CallbackError("the callback has no type")
    review = json_object(payload, "reviewResult")
    answer = review.get("reviewAnswer")
    reject_type = review.get("reviewRejectType")
    labels = review.get("rejectLabels")
    return Callback(
        type=kind,
        external_user_id=_text(payload, "externalUserId"),
        applicant_id=_text(payload, "applicantId"),
        correlation_id=_text(payload, "correlationId"),
        created_at=parse_created_at_ms(payload.get("createdAtMs")),
        level_name=_text(payload, "levelName"),
        review_answer=ReviewAnswer(str(answer)) if answer in ReviewAnswer.__members__ else None,
        reject_type=RejectType(str(reject_type)) if reject_type in RejectType.__members__ else None,
        reject_labels=tuple(str(label) for label in labels) if isinstance(labels, list) else (),
        moderation_comment=_text(review, "moderationComment"),
        client_comment=_text(review, "clientComment"),
        sandbox=_flag(payload.get("sandboxMode")),
    )


def idempotency_key(payload: Mapping[str, Any], raw_body: bytes) -> str:
    """``type:correlationId:createdAtMs``, or a digest of the body when any of the three is missing."""
    parts = [payload.get("type"), payload.get("correlationId"), payload.get("createdAtMs")]
    if all(isinstance(p, str) and p for p in parts):
        return ":".join(parts)  # type: ignore[arg-type]
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


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
    # a callback without a readable createdAtMs sorts first: any dated event is taken as newer
    sequence, callback = item
    return (callback.created_at or datetime.min.replace(tzinfo=UTC), sequence)


def fold(start: KycFacts, callbacks: Iterable[tuple[int, Callback]]) -> KycFacts:
    """Apply the state-changing ``(arrival sequence, callback)`` pairs in ``createdAtMs`` order.

    Ties on ``createdAtMs`` are broken by arrival. Informational and unknown types are skipped.
    """
    facts = start
    for _, callback in sorted((c for c in callbacks if c[1].type in STATE_CHANGING), key=_order):
        facts = _apply(facts, callback)
    return facts

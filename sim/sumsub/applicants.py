"""Applicants and their review lifecycle, as Sumsub runs it; no HTTP, no webhooks.

    init ──submit──▶ pending ──review──▶ completed (GREEN, or RED with RETRY / FINAL)
                        │                    │
                        └──hold──▶ onHold ───┘  (a review ends a hold)
    completed RED+RETRY ──submit──▶ pending (a new attempt) ──review──▶ completed ...

Every transition returns the ``LifecycleEvent`` it causes (``applicantPending``,
``applicantReviewed``, ...); turning those into signed webhooks is someone else's job. A transition
that Sumsub would not make raises ``TransitionNotAllowed`` instead of inventing a state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sim.clock import VirtualClock
from sim.seed import Seed
from sim.sumsub.timestamps import applicant_timestamp, review_timestamp

__all__ = [
    "FINAL_REJECT_LABELS",
    "RETRY_REJECT_LABELS",
    "Applicant",
    "ApplicantNotFound",
    "ApplicantRegistry",
    "DuplicateApplicant",
    "LifecycleEvent",
    "RejectType",
    "Review",
    "ReviewAnswer",
    "ReviewResult",
    "ReviewStatus",
    "TransitionNotAllowed",
]

ReviewStatus = Literal["init", "pending", "prechecked", "queued", "completed", "onHold",
                       "awaitingService", "awaitingUser"]
ReviewAnswer = Literal["GREEN", "RED"]
RejectType = Literal["RETRY", "FINAL"]

# Labels Sumsub treats as final: the applicant may not resubmit. The schema lists about a hundred
# labels; these are the ones the fake uses to infer a reject type when none is given.
FINAL_REJECT_LABELS = frozenset({
    "ADVERSE_MEDIA", "AGE_REQUIREMENT_MISMATCH", "BLOCKLIST", "BLACKLIST", "COMPROMISED_PERSONS",
    "CRIMINAL", "DOCUMENT_TEMPLATE", "DUPLICATE", "EXPERIENCE_REQUIREMENT_MISMATCH",
    "EXTERNAL_DECISION_REJECTION", "FORGERY", "FRAUDULENT_LIVENESS", "FRAUDULENT_PATTERNS",
    "INCONSISTENT_PROFILE", "PEP", "REGULATIONS_VIOLATIONS", "SANCTIONS", "SELFIE_MISMATCH", "SPAM",
    "NOT_DOCUMENT", "THIRD_PARTY_INVOLVED", "WRONG_USER_REGION",
})
RETRY_REJECT_LABELS = frozenset({
    "UNSATISFACTORY_PHOTOS", "SCREENSHOTS", "BAD_SELFIE", "BAD_VIDEO_SELFIE", "BAD_FACE_MATCHING",
    "BAD_PROOF_OF_IDENTITY", "BAD_PROOF_OF_ADDRESS", "BAD_PROOF_OF_PAYMENT", "DOCUMENT_PAGE_MISSING",
    "DOCUMENT_DAMAGED", "INCOMPLETE_DOCUMENT", "FRONT_SIDE_MISSING", "BACK_SIDE_MISSING",
    "BLACK_AND_WHITE", "EXPIRATION_DATE", "ID_INVALID", "LOW_QUALITY", "GRAPHIC_EDITOR", "WRONG_ADDRESS",
    "REQUESTED_DATA_MISMATCH", "ADDITIONAL_DOCUMENT_REQUIRED", "COMPANY_NOT_DEFINED_STRUCTURE",
    "COMPANY_NOT_DEFINED_BENEFICIARIES", "COMPANY_NOT_VALIDATED_BENEFICIARIES",
    "COMPANY_NOT_DEFINED_REPRESENTATIVES", "COMPANY_NOT_VALIDATED_REPRESENTATIVES", "OTHER",
})

# What a level asks for; the fake has one shape for every level.
REQUIRED_ID_DOCS: Mapping[str, Any] = {
    "docSets": [
        {"idDocSetType": "IDENTITY", "types": ["PASSPORT", "ID_CARD", "DRIVERS", "RESIDENCE_PERMIT"]},
        {"idDocSetType": "SELFIE", "types": ["SELFIE"], "videoRequired": "passiveLiveness"},
    ]
}


class ApplicantNotFound(LookupError):
    def __init__(self, reference: str) -> None:
        super().__init__(f"no applicant {reference}")
        self.reference = reference


class DuplicateApplicant(Exception):
    def __init__(self, external_user_id: str, applicant_id: str) -> None:
        # Sumsub's own wording: clients parse the trailing id out of it
        super().__init__(f"Applicant with external user id '{external_user_id}' already exists: {applicant_id}")
        self.external_user_id = external_user_id
        self.applicant_id = applicant_id


class TransitionNotAllowed(Exception):
    pass


@dataclass(frozen=True)
class ReviewResult:
    answer: ReviewAnswer
    reject_labels: tuple[str, ...] = ()
    reject_type: RejectType | None = None
    moderation_comment: str | None = None
    client_comment: str | None = None
    button_ids: tuple[str, ...] = ()

    @classmethod
    def green(cls) -> ReviewResult:
        return cls("GREEN")

    @classmethod
    def red(cls, labels: Iterable[str], reject_type: RejectType | None = None, *,
            moderation_comment: str | None = None, client_comment: str | None = None,
            button_ids: Iterable[str] = ()) -> ReviewResult:
        labels = tuple(labels)
        if reject_type is None:
            # Sumsub derives the type from the labels: one final label makes the rejection final
            reject_type = "FINAL" if FINAL_REJECT_LABELS.intersection(labels) else "RETRY"
        return cls("RED", labels, reject_type, moderation_comment, client_comment, tuple(button_ids))

    def __post_init__(self) -> None:
        if self.answer not in ("GREEN", "RED"):
            raise ValueError(f"reviewAnswer is GREEN or RED, not {self.answer!r}")
        if self.answer == "GREEN" and (self.reject_labels or self.reject_type):
            raise ValueError("a GREEN review carries no reject labels or reject type")
        if self.answer == "RED" and self.reject_type not in ("RETRY", "FINAL"):
            raise ValueError(f"a RED review is RETRY or FINAL, not {self.reject_type!r}")

    @property
    def allows_resubmission(self) -> bool:
        return self.answer == "RED" and self.reject_type == "RETRY"

    def to_payload(self) -> dict[str, Any]:
        """The ``reviewResult`` object, keyed and ordered as Sumsub sends it."""
        if self.answer == "GREEN":
            return {"reviewAnswer": "GREEN"}
        payload: dict[str, Any] = {"reviewAnswer": "RED", "rejectLabels": list(self.reject_labels),
                                   "reviewRejectType": self.reject_type}
        if self.moderation_comment is not None:
            payload["moderationComment"] = self.moderation_comment
        if self.client_comment is not None:
            payload["clientComment"] = self.client_comment
        if self.button_ids:
            payload["buttonIds"] = list(self.button_ids)
        return payload


@dataclass
class Review:
    review_id: str
    attempt_id: str
    attempt_cnt: int
    level_name: str
    create_date: float
    status: ReviewStatus = "init"
    priority: int = 0
    review_date: float | None = None
    pending_since: float | None = None
    result: ReviewResult | None = None

    def to_payload(self, now: float) -> dict[str, Any]:
        """The review as ``GET .../status`` and the applicant's ``review`` field show it."""
        payload: dict[str, Any] = {
            "reviewId": self.review_id,
            "attemptId": self.attempt_id,
            "attemptCnt": self.attempt_cnt,
            "levelName": self.level_name,
            "createDate": review_timestamp(self.create_date),
            "reviewStatus": self.status,
            "priority": self.priority,
        }
        if self.pending_since is not None:
            payload["elapsedSincePendingMs"] = int(((self.review_date or now) - self.pending_since) * 1000)
        if self.review_date is not None:
            payload["reviewDate"] = review_timestamp(self.review_date)
        if self.result is not None:
            payload["reviewResult"] = self.result.to_payload()
        return payload


@dataclass(frozen=True)
class LifecycleEvent:
    """Something that happened to an applicant, captured when it happened."""

    type: str
    applicant_id: str
    at: float
    review_status: ReviewStatus
    review_result: ReviewResult | None = None
    previous_level_name: str | None = None


@dataclass
class Applicant:
    id: str
    external_user_id: str
    level_name: str
    client_id: str
    created_at: float
    review: Review
    type: Literal["individual", "company"] = "individual"
    email: str | None = None
    phone: str | None = None
    lang: str | None = None
    fixed_info: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    history: list[LifecycleEvent] = field(default_factory=list)

    @property
    def inspection_id(self) -> str:
        # equal to the applicant id in every recent capture
        return self.id

    @property
    def review_status(self) -> ReviewStatus:
        return self.review.status

    def to_payload(self, now: float) -> dict[str, Any]:
        """The applicant as ``POST /resources/applicants`` and ``GET .../one`` answer it."""
        payload: dict[str, Any] = {
            "id": self.id,
            "createdAt": applicant_timestamp(self.created_at),
            "clientId": self.client_id,
            "inspectionId": self.inspection_id,
            "externalUserId": self.external_user_id,
        }
        if self.fixed_info:
            payload["fixedInfo"] = dict(self.fixed_info)
        payload["info"] = dict(self.info)
        if self.email is not None:
            payload["email"] = self.email
        if self.phone is not None:
            payload["phone"] = self.phone
        if self.lang is not None:
            payload["lang"] = self.lang
        if self.metadata:
            payload["metadata"] = [dict(item) for item in self.metadata]
        payload["applicantPlatform"] = "API"
        payload["requiredIdDocs"] = REQUIRED_ID_DOCS
        payload["review"] = self.review.to_payload(now)
        payload["type"] = self.type
        return payload


class ApplicantRegistry:
    """Every applicant of one Sumsub client, with the transitions Sumsub allows."""

    _SUBMITTABLE: frozenset[str] = frozenset({"init", "awaitingUser"})
    _HOLDABLE: frozenset[str] = frozenset({"pending", "prechecked", "queued", "awaitingService"})

    def __init__(self, clock: VirtualClock, seed: Seed, *, client_id: str) -> None:
        self.clock = clock
        self.seed = seed
        self.client_id = client_id
        self._by_id: dict[str, Applicant] = {}
        self._by_external_id: dict[str, str] = {}

    # reading
    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Applicant]:
        return iter(self._by_id.values())

    def __contains__(self, applicant_id: object) -> bool:
        return applicant_id in self._by_id

    def __getitem__(self, applicant_id: str) -> Applicant:
        return self.get(applicant_id)

    def get(self, applicant_id: str) -> Applicant:
        try:
            return self._by_id[applicant_id]
        except KeyError:
            raise ApplicantNotFound(applicant_id) from None

    def by_external_user_id(self, external_user_id: str) -> Applicant:
        try:
            return self._by_id[self._by_external_id[external_user_id]]
        except KeyError:
            raise ApplicantNotFound(f"with externalUserId {external_user_id!r}") from None

    def find_by_external_user_id(self, external_user_id: str) -> Applicant | None:
        applicant_id = self._by_external_id.get(external_user_id)
        return None if applicant_id is None else self._by_id[applicant_id]

    # ids
    def _new_applicant_id(self) -> str:
        # Sumsub's ids are MongoDB ObjectIds: the first 4 bytes are the creation time in seconds
        return f"{int(self.clock.time()) & 0xFFFFFFFF:08x}{self.seed.hex('sumsub.applicant_ids', 16)}"

    def _new_short_id(self) -> str:
        return self.seed.token("sumsub.review_ids", 5)

    # transitions
    def create(self, external_user_id: str, level_name: str, *,
               applicant_type: Literal["individual", "company"] = "individual",
               email: str | None = None, phone: str | None = None, lang: str | None = None,
               fixed_info: Mapping[str, Any] | None = None,
               metadata: Sequence[Mapping[str, Any]] = ()) -> tuple[Applicant, LifecycleEvent]:
        if not external_user_id:
            raise ValueError("externalUserId is required")
        existing = self.find_by_external_user_id(external_user_id)
        if existing is not None:
            raise DuplicateApplicant(external_user_id, existing.id)
        now = self.clock.time()
        review = Review(review_id=self._new_short_id(), attempt_id=self._new_short_id(), attempt_cnt=0,
                        level_name=level_name, create_date=now)
        applicant = Applicant(
            id=self._new_applicant_id(), external_user_id=external_user_id, level_name=level_name,
            client_id=self.client_id, created_at=now, review=review, type=applicant_type, email=email,
            phone=phone, lang=lang, fixed_info=dict(fixed_info or {}), info=dict(fixed_info or {}),
            metadata=[dict(item) for item in metadata],
        )
        self._by_id[applicant.id] = applicant
        self._by_external_id[external_user_id] = applicant.id
        return applicant, self._record(applicant, "applicantCreated")

    def submit_documents(self, applicant_id: str) -> LifecycleEvent:
        """The applicant finished the WebSDK: their documents go to review."""
        applicant = self.get(applicant_id)
        review = applicant.review
        resubmission = review.status == "completed" and review.result is not None \
            and review.result.allows_resubmission
        if review.status not in self._SUBMITTABLE and not resubmission:
            raise TransitionNotAllowed(
                f"applicant {applicant_id} is {self._describe(review)}: documents are accepted in init, "
                f"awaitingUser, or after a RETRY rejection")
        now = self.clock.time()
        if review.attempt_cnt > 0:
            review.attempt_id = self._new_short_id()
        review.attempt_cnt += 1
        review.status = "pending"
        review.pending_since = now
        review.review_date = None
        review.result = None
        return self._record(applicant, "applicantPending")

    def review(self, applicant_id: str, result: ReviewResult) -> LifecycleEvent:
        """A moderator (or ``testCompleted`` in the sandbox) decides; any state may be reviewed again."""
        applicant = self.get(applicant_id)
        review = applicant.review
        now = self.clock.time()
        review.status = "completed"
        review.review_date = now
        review.result = result
        return self._record(applicant, "applicantReviewed")

    def put_on_hold(self, applicant_id: str) -> LifecycleEvent:
        applicant = self.get(applicant_id)
        if applicant.review.status not in self._HOLDABLE:
            raise TransitionNotAllowed(
                f"applicant {applicant_id} is {self._describe(applicant.review)}: only an applicant under "
                f"review ({', '.join(sorted(self._HOLDABLE))}) can be put on hold")
        applicant.review.status = "onHold"
        return self._record(applicant, "applicantOnHold")

    def change_personal_info(self, applicant_id: str, changes: Mapping[str, Any]) -> LifecycleEvent:
        if not changes:
            raise ValueError("a personal-info change needs at least one field")
        applicant = self.get(applicant_id)
        applicant.fixed_info.update(changes)
        applicant.info.update(changes)
        return self._record(applicant, "applicantPersonalInfoChanged")

    def reset(self, applicant_id: str) -> LifecycleEvent:
        """Sumsub's applicant reset: back to init, documents set aside."""
        applicant = self.get(applicant_id)
        review = applicant.review
        review.status = "init"
        review.result = None
        review.review_date = None
        review.pending_since = None
        return self._record(applicant, "applicantReset")

    def clear(self) -> None:
        self._by_id.clear()
        self._by_external_id.clear()

    # helpers
    def _record(self, applicant: Applicant, event_type: str) -> LifecycleEvent:
        event = LifecycleEvent(event_type, applicant.id, self.clock.time(), applicant.review.status,
                               applicant.review.result)
        applicant.history.append(event)
        return event

    @staticmethod
    def _describe(review: Review) -> str:
        if review.result is None:
            return review.status
        result = review.result
        return f"{review.status} ({result.answer}{' ' + result.reject_type if result.reject_type else ''})"

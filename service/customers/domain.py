"""Customer rules, in plain Python: what a customer is, what is valid, what a type implies, and
the customer's lifecycle (:class:`Customer`): every decision about its statuses is made there.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from service.events import CustomerDeactivated, CustomerEvent, CustomerKycUpdated

if TYPE_CHECKING:
    from service.kyc.domain import KycFacts

__all__ = [
    "ActivityStatus",
    "Customer",
    "CustomerType",
    "InvalidCustomerField",
    "KycLevel",
    "KycStartRefused",
    "KycStatus",
    "StatusFilter",
    "Transition",
    "VerificationStatus",
    "is_public_id",
    "kyc_level_name",
    "normalize_email",
    "normalize_telegram_id",
]


class CustomerType(StrEnum):
    INDIVIDUAL = "individual"
    GOVERNMENT_ENTITY = "government_entity"
    PRIVATE_COMPANY = "private_company"
    BANK = "bank"
    FINANCIAL_INSTITUTION = "financial_institution"
    FOREIGN_AGENCY_OR_SUBSIDIARY = "foreign_agency_or_subsidiary"
    NON_DOMICILED_COMPANY = "non_domiciled_company"


class KycStatus(StrEnum):
    NOT_STARTED = "not_started"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVIEW_NEEDED = "review_needed"


class VerificationStatus(StrEnum):
    PENDING_VERIFICATION = "pending_verification"
    VERIFIED = "verified"
    REJECTED = "rejected"


class KycLevel(StrEnum):
    NOT_KYCED = "not_kyced"
    BASIC = "basic"


class ActivityStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class StatusFilter(StrEnum):
    """The list's ``status=``: three activity states, and ``pending`` for verification pending."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    PENDING = "pending"


class InvalidCustomerField(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


EMAIL_MAX_LENGTH = 254
# Deliberately plain: one @, a local part without spaces or control characters, a dotted domain of
# letters, digits and hyphens. Mail servers are the final judge; this catches what is surely wrong.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
# A Telegram account is named by its numeric user id or by its @username (5-32 characters).
_TELEGRAM_ID = re.compile(r"^(?:\d{1,20}|@?[A-Za-z][A-Za-z0-9_]{4,31})$")
_PUBLIC_ID = re.compile(r"^[Cc]\d{4,15}$")


def normalize_email(raw: str) -> str:
    email = raw.strip()
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidCustomerField("email", f"must be at most {EMAIL_MAX_LENGTH} characters")
    if ".." in email or not _EMAIL.fullmatch(email) or email.split("@")[0].startswith(".") \
            or email.split("@")[0].endswith("."):
        raise InvalidCustomerField("email", "is not a valid email address")
    return email.lower()


def normalize_telegram_id(raw: str | None) -> str | None:
    """One spelling per Telegram account, so that uniqueness means something: a numeric user id
    without leading zeros, or a username lower-cased without its ``@`` (Telegram usernames are
    case-insensitive and start with a letter, so the two forms never meet)."""
    if raw is None:
        return None
    telegram_id = raw.strip()
    if not _TELEGRAM_ID.fullmatch(telegram_id):
        raise InvalidCustomerField(
            "telegram_id", "must be a numeric Telegram user id or a @username of 5-32 letters, digits or _"
        )
    if telegram_id.isdigit():
        return str(int(telegram_id))
    return telegram_id.lstrip("@").lower()


def is_public_id(value: str) -> bool:
    return bool(_PUBLIC_ID.fullmatch(value))


def kyc_level_name(customer_type: CustomerType, *, kyc_level: str, kyb_level: str) -> str:
    """Individuals go through Sumsub's KYC level; every kind of organisation through KYB."""
    return kyc_level if customer_type is CustomerType.INDIVIDUAL else kyb_level


class KycStartRefused(Exception):
    """Why this customer may not start KYC; ``code`` is the problem's machine-readable type."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details


class Transition(NamedTuple):
    """What a lifecycle transition gives: the customer's new state, and the events it raises
    (none when nothing changed: applying a transition twice is an answer, not an error)."""

    state: Customer
    events: tuple[CustomerEvent, ...] = ()


@dataclass(frozen=True)
class Customer:
    """A customer's lifecycle state, plain and frozen. Each transition returns the new state and the
    events it raises; nothing else in the service decides a status."""

    id: uuid.UUID
    customer_type: CustomerType
    kyc_status: KycStatus = KycStatus.NOT_STARTED
    verification_status: VerificationStatus = VerificationStatus.PENDING_VERIFICATION
    kyc_level: KycLevel = KycLevel.NOT_KYCED
    activity_status: ActivityStatus = ActivityStatus.INACTIVE
    applicant_id: str | None = None
    kyc_started_at: datetime | None = None
    kyc_reviewed_at: datetime | None = None
    kyc_reject_type: str | None = None
    kyc_reject_labels: tuple[str, ...] = ()
    kyc_moderation_comment: str | None = None
    kyc_client_comment: str | None = None

    @classmethod
    def create(cls, customer_id: uuid.UUID, customer_type: CustomerType) -> Customer:
        """A new customer: KYC not started, pending verification, inactive."""
        return cls(id=customer_id, customer_type=customer_type)

    @property
    def suspended(self) -> bool:
        return self.activity_status is ActivityStatus.SUSPENDED

    # --- who may start KYC -------------------------------------------------------------------

    def kyc_start_refusal(self) -> KycStartRefused | None:
        """Who may start KYC: anyone not suspended, not rejected for good, not approved already."""
        if self.suspended:
            return KycStartRefused("customer_suspended", "a suspended customer cannot start KYC")
        if self.kyc_status is KycStatus.REJECTED and self.kyc_reject_type == "FINAL":
            return KycStartRefused("kyc_rejected_final", "Sumsub rejected this customer for good (FINAL); "
                                   "they cannot resubmit", reject_labels=list(self.kyc_reject_labels))
        if self.kyc_status is KycStatus.APPROVED:
            return KycStartRefused("kyc_already_approved", "this customer's KYC is already approved")
        return None

    def start_kyc(self, applicant_id: str, now: datetime) -> Transition:
        """KYC started (a verification link made, once :meth:`kyc_start_refusal` allowed it): the
        applicant is known, and KYC is pending unless a callback moved it on meanwhile."""
        state = replace(
            self,
            applicant_id=self.applicant_id or applicant_id,
            kyc_started_at=self.kyc_started_at or now,
            kyc_status=KycStatus.PENDING if self.kyc_status is KycStatus.NOT_STARTED else self.kyc_status,
        )
        return Transition(state)  # no event: nothing outside the service reacts to a started KYC

    # --- KYC facts from the fold, and when a customer is suspended ---------------------------

    def apply_kyc(self, facts: KycFacts) -> Transition:
        """The KYC facts folded from Sumsub's callbacks. A newer RED after an approval suspends."""
        state = replace(
            self,
            kyc_status=facts.kyc_status,
            verification_status=facts.verification_status,
            kyc_level=facts.kyc_level,
            applicant_id=self.applicant_id or facts.applicant_id,
            kyc_reject_type=facts.reject_type.value if facts.reject_type else None,
            kyc_reject_labels=tuple(facts.reject_labels),
            kyc_moderation_comment=facts.moderation_comment,
            kyc_client_comment=facts.client_comment,
            kyc_reviewed_at=facts.reviewed_at,
        )
        if facts.suspend:
            state = state._suspended()
        if state == self:
            return Transition(self)
        return Transition(state, (state._kyc_updated(),))

    def suspend(self) -> Transition:
        """When a customer is suspended: an operator deactivates them, or (:meth:`apply_kyc`) a newer
        RED review follows an approval. Suspension is final and wins over provisioning."""
        if self.suspended:
            return Transition(self)
        return Transition(self._suspended(), (CustomerDeactivated(customer_id=str(self.id)),))

    def _suspended(self) -> Customer:
        return replace(self, activity_status=ActivityStatus.SUSPENDED)

    def _kyc_updated(self) -> CustomerKycUpdated:
        return CustomerKycUpdated(customer_id=str(self.id), applicant_id=self.applicant_id,
                                  kyc_status=self.kyc_status.value,
                                  verification_status=self.verification_status.value,
                                  kyc_level=self.kyc_level.value, activity_status=self.activity_status.value,
                                  reject_type=self.kyc_reject_type)

    # --- when a customer becomes active, and what an active customer may do ------------------

    def activate(self, *, provisioning_complete: bool) -> Transition:
        """When a customer becomes active: verified, still inactive (never from suspended), and the
        provisioning plan complete (login, welcome email and deposit account all done)."""
        if (provisioning_complete and self.activity_status is ActivityStatus.INACTIVE
                and self.verification_status is VerificationStatus.VERIFIED):
            return Transition(replace(self, activity_status=ActivityStatus.ACTIVE))
        return Transition(self)

    @property
    def may_transact(self) -> bool:
        """Deposits and withdrawals: only for an active customer."""
        return self.activity_status is ActivityStatus.ACTIVE

    @property
    def eligible_for_credit_facility(self) -> bool:
        """Verified and active; an active customer has an open deposit account (activation needs one)."""
        return self.verification_status is VerificationStatus.VERIFIED and self.may_transact

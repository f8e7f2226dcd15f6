"""Customer rules, in plain Python: what a customer is, what is valid, what a type implies."""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "ActivityStatus",
    "CustomerType",
    "InvalidCustomerField",
    "KycLevel",
    "KycStatus",
    "StatusFilter",
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

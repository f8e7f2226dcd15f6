"""The customers API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from service.customers.domain import CustomerType

__all__ = ["CustomerCreate", "CustomerPage", "CustomerView", "KycDetails", "ProvisioningStepView"]


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254, examples=["ada@example.com"])]
    customer_type: CustomerType
    telegram_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["@ada_l"])] | None = None


class KycDetails(msgspec.Struct):
    started_at: datetime | None
    reviewed_at: datetime | None
    reject_type: str | None
    reject_labels: list[str]
    moderation_comment: str | None
    client_comment: str | None


class ProvisioningStepView(msgspec.Struct):
    status: str
    attempts: int
    last_error: str | None
    updated_at: datetime


class CustomerView(msgspec.Struct):
    id: UUID
    public_id: str
    email: str
    telegram_id: str | None
    customer_type: CustomerType
    kyc_status: str
    verification_status: str
    kyc_level: str
    activity_status: str
    applicant_id: str | None
    eligible_for_credit_facility: bool
    kyc: KycDetails
    provisioning: dict[str, ProvisioningStepView] | None
    created_at: datetime
    updated_at: datetime


class CustomerPage(msgspec.Struct):
    items: list[CustomerView]
    next_cursor: str | None

"""The customers API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from service.customers.domain import ActivityStatus, CustomerType, KycLevel, KycStatus, VerificationStatus
from service.kyc.domain import RejectType
from service.provisioning.steps import StepStatus

__all__ = ["CustomerCreate", "CustomerPage", "CustomerView", "KycDetails", "ProvisioningStepView"]


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254, examples=["ada@example.com"])]
    customer_type: CustomerType
    telegram_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["@ada_l"])] | None = None


class KycDetails(msgspec.Struct):
    started_at: datetime | None
    reviewed_at: datetime | None
    reject_type: RejectType | None
    reject_labels: list[str]
    moderation_comment: str | None
    client_comment: str | None


class ProvisioningStepView(msgspec.Struct):
    status: StepStatus
    attempts: int
    last_error: str | None
    updated_at: datetime


class CustomerView(msgspec.Struct):
    id: UUID
    public_id: Annotated[str, msgspec.Meta(examples=["C1000"])]
    email: Annotated[str, msgspec.Meta(examples=["ada@example.com"])]
    telegram_id: str | None
    customer_type: CustomerType
    kyc_status: KycStatus
    verification_status: VerificationStatus
    kyc_level: KycLevel
    activity_status: ActivityStatus
    applicant_id: str | None
    eligible_for_credit_facility: bool
    kyc: KycDetails
    provisioning: dict[str, ProvisioningStepView] | None
    created_at: datetime
    updated_at: datetime


class CustomerPage(msgspec.Struct):
    items: list[CustomerView]
    next_cursor: str | None

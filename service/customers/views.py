"""From stored customers to what the API shows."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.repository import customer_state
from service.customers.schemas import CustomerView, KycDetails, ProvisioningStepView
from service.db.models import CustomerRecord, ProvisioningStepRecord
from service.kyc.domain import RejectType
from service.provisioning.plan import StepStatus

__all__ = ["customer_view", "provisioning_of"]


async def provisioning_of(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, ProvisioningStepView]:
    rows = (await session.scalars(select(ProvisioningStepRecord)
                                  .where(ProvisioningStepRecord.customer_id == customer_id))).all()
    return {r.step: ProvisioningStepView(status=StepStatus(r.status), attempts=r.attempts, last_error=r.last_error,
                                         updated_at=r.updated_at) for r in rows}


def customer_view(record: CustomerRecord,
                  provisioning: dict[str, ProvisioningStepView] | None = None) -> CustomerView:
    """``provisioning`` is left out of lists (None), shown on a single customer."""
    state = customer_state(record)
    return CustomerView(
        id=record.id,
        public_id=record.public_id,
        email=record.email,
        telegram_id=record.telegram_id,
        customer_type=state.customer_type,
        kyc_status=state.kyc_status,
        verification_status=state.verification_status,
        kyc_level=state.kyc_level,
        activity_status=state.activity_status,
        applicant_id=state.applicant_id,
        eligible_for_credit_facility=state.eligible_for_credit_facility,
        provisioning=provisioning,
        kyc=KycDetails(
            started_at=record.kyc_started_at,
            reviewed_at=record.kyc_reviewed_at,
            reject_type=RejectType(record.kyc_reject_type) if record.kyc_reject_type else None,
            reject_labels=list(record.kyc_reject_labels or []),
            moderation_comment=record.kyc_moderation_comment,
            client_comment=record.kyc_client_comment,
        ),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )

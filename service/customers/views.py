"""From stored customers to what the API shows."""

from __future__ import annotations

from service.customers.domain import ActivityStatus, CustomerType, VerificationStatus
from service.customers.schemas import CustomerView, KycDetails
from service.db.models import CustomerRecord

__all__ = ["customer_view"]


def customer_view(record: CustomerRecord) -> CustomerView:
    return CustomerView(
        id=record.id,
        public_id=record.public_id,
        email=record.email,
        telegram_id=record.telegram_id,
        customer_type=CustomerType(record.customer_type),
        kyc_status=record.kyc_status,
        verification_status=record.verification_status,
        kyc_level=record.kyc_level,
        activity_status=record.activity_status,
        applicant_id=record.applicant_id,
        # verified and active; the open deposit account joins this rule when accounts exist
        eligible_for_credit_facility=(record.verification_status == VerificationStatus.VERIFIED.value
                                      and record.activity_status == ActivityStatus.ACTIVE.value),
        kyc=KycDetails(
            started_at=record.kyc_started_at,
            reviewed_at=record.kyc_reviewed_at,
            reject_type=record.kyc_reject_type,
            reject_labels=list(record.kyc_reject_labels or []),
            moderation_comment=record.kyc_moderation_comment,
            client_comment=record.kyc_client_comment,
        ),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )

"""The events a customer's state changes raise, as typed values (past tense: what happened).

They are written to the outbox and read back by ``service.outbox``; the stored payload is the
struct's fields, the event type its class name.
"""

from __future__ import annotations

import msgspec

__all__ = ["EVENT_TYPES", "CustomerDeactivated", "CustomerEvent", "CustomerKycUpdated"]


class CustomerKycUpdated(msgspec.Struct, frozen=True, kw_only=True):
    """The customer's KYC state changed; the statuses after the change."""

    customer_id: str
    applicant_id: str | None
    kyc_status: str
    verification_status: str
    kyc_level: str
    activity_status: str
    reject_type: str | None


class CustomerDeactivated(msgspec.Struct, frozen=True, kw_only=True):
    """An operator suspended the customer."""

    customer_id: str
    activity_status: str = "suspended"


CustomerEvent = CustomerKycUpdated | CustomerDeactivated

EVENT_TYPES: dict[str, type[CustomerEvent]] = {kind.__name__: kind
                                               for kind in (CustomerKycUpdated, CustomerDeactivated)}

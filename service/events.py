"""The public events the service writes to its outbox: their names, in one place."""

__all__ = ["CUSTOMER_DEACTIVATED", "CUSTOMER_KYC_UPDATED"]

# KYC state changed (payload: the customer's statuses after the change)
CUSTOMER_KYC_UPDATED = "CustomerKycUpdated"
# an operator suspended the customer
CUSTOMER_DEACTIVATED = "CustomerDeactivated"

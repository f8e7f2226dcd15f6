"""The customer portal's API: a customer, logged in through the customer realm, sees their own data."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from sqlalchemy import select

from service.auth.guards import current_customer, requires_customer
from service.customers.repository import customer_state
from service.customers.schemas import CustomerView
from service.customers.views import customer_view
from service.db.models import CustomerRecord
from service.dependencies import Sessions
from service.ledger.domain import AccountNotFound
from service.ledger.repository import deposit_account
from service.ledger.schemas import DepositAccountView
from service.ledger.views import deposit_account_view
from service.problems import Problem

__all__ = ["PortalMe", "portal_me"]


class PortalMe(msgspec.Struct):
    customer: CustomerView
    deposit_account: DepositAccountView | None


@get("/portal/me", guards=[requires_customer()], tags=["portal"], summary="The logged-in customer's own data")
async def portal_me(request: Request[Any, Any, Any], sessions: Sessions) -> PortalMe:
    login = current_customer(request)
    async with sessions() as session:
        # the customer's Keycloak user id is recorded when provisioning makes the user
        customer = await session.scalar(select(CustomerRecord).where(CustomerRecord.keycloak_user_id == login.subject))
        if customer is None:
            raise Problem(403, "not_a_customer", "this login belongs to no customer")
        if customer_state(customer).suspended:
            raise Problem(403, "customer_suspended", "this customer is suspended")
        try:
            account = deposit_account_view(await deposit_account(session, customer.id))
        except AccountNotFound:
            account = None
    view = customer_view(customer)
    # Sumsub's clientComment is for the bank only; the moderation comment is the one meant for the applicant
    shown = msgspec.structs.replace(view, kyc=msgspec.structs.replace(view.kyc, client_comment=None))
    return PortalMe(customer=shown, deposit_account=account)

"""The customer portal's API: a customer, logged in through the customer realm, sees their own data."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, get
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.guards import NotAdmitted, current_customer, requires_customer
from service.auth.tokens import VerifiedToken
from service.customers.repository import customer_state
from service.customers.schemas import CustomerView
from service.customers.views import customer_view
from service.db.models import CustomerRecord
from service.dependencies import Sessions
from service.ledger.domain import AccountNotFound
from service.ledger.repository import deposit_account
from service.ledger.schemas import DepositAccountView
from service.ledger.views import deposit_account_view
from service.openapi import CUSTOMER, problems
from service.problems import Problem

__all__ = ["PortalMe", "customer_of_login", "portal_me"]


class PortalMe(msgspec.Struct):
    customer: CustomerView
    deposit_account: DepositAccountView | None


async def customer_of_login(sessions: async_sessionmaker[AsyncSession], login: VerifiedToken) -> uuid.UUID:
    """The customer whose Keycloak user this login is; a login of no customer, or of a suspended one,
    is not admitted."""
    async with sessions() as session:
        # the customer's Keycloak user id is recorded when provisioning makes the user
        customer = (await session.execute(
            select(CustomerRecord).where(CustomerRecord.keycloak_user_id == login.subject)
        )).scalar_one_or_none()
    if customer is None:
        raise NotAdmitted("not_a_customer", "this login belongs to no customer")
    if customer_state(customer).suspended:
        raise NotAdmitted("customer_suspended", "this customer is suspended")
    return customer.id


@get("/portal/me", guards=[requires_customer(customer_of_login)], tags=["portal"],
     summary="The logged-in customer's own data", operation_id="getMyProfile", security=CUSTOMER,
     responses=problems(401, 403, instance="/portal/me", codes={403: ("not_a_customer", "customer_suspended")},
                        descriptions={401: "No token from the customer realm, or one that was refused.",
                                      403: "The login belongs to no customer, or the customer is suspended."}))
async def portal_me(request: Request[Any, Any, Any], sessions: Sessions) -> PortalMe:
    customer_id: uuid.UUID = current_customer(request)
    async with sessions() as session:
        customer = await session.get(CustomerRecord, customer_id)
        if customer is None:
            raise Problem(404, "customer_not_found", "this customer is gone")
        try:
            account = deposit_account_view(await deposit_account(session, customer.id))
        except AccountNotFound:
            account = None
    view = customer_view(customer)
    # Sumsub's clientComment is for the bank only; the moderation comment is the one meant for the applicant
    shown = msgspec.structs.replace(view, kyc=msgspec.structs.replace(view.kyc, client_comment=None))
    return PortalMe(customer=shown, deposit_account=account)

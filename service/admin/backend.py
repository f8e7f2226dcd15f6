"""Everything the panel asks of the business, in one place: the very code the JSON API runs.

The panel owns no rule. Each function here calls what the API's route for the same action calls
(its handler, through ``handler.fn``, which parses and calls the application service; or that service
directly), so an action behaves the same from curl and from the browser.
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.audit import AuditEntry, recent_decisions
from service.customers.controller import CustomerController
from service.customers.domain import CustomerType, StatusFilter
from service.customers.schemas import CustomerCreate, CustomerPage, CustomerView
from service.kyc.controller import KycCallbackView, KycController, KycLink
from service.kyc.domain import CallbackStatus
from service.ledger import repository as ledger
from service.ledger import service as ledger_service
from service.ledger.controller import DepositAccountController
from service.ledger.domain import AccountNotFound, EntryKind
from service.ledger.schemas import DepositAccountView
from service.problems import Problem
from service.settings import Settings

__all__ = [
    "ATTENTION_STATUSES",
    "audit_entries",
    "callbacks_needing_attention",
    "create_customer",
    "customer",
    "customer_callbacks",
    "customers",
    "deactivate",
    "deposit_account",
    "post_entry",
    "start_kyc",
]

Sessions = async_sessionmaker[AsyncSession]
# the callbacks an operator must look at: no customer of ours (orphan), or held back (failed: an
# unreadable time, a review for a level this service does not use)
ATTENTION_STATUSES = (CallbackStatus.ORPHAN, CallbackStatus.FAILED)


async def customers(sessions: Sessions, settings: Settings, *, status: StatusFilter | None, search: str | None,
                    newest_first: bool, limit: int, cursor: str | None) -> CustomerPage:
    page = await CustomerController.list_customers.fn(
        None, sessions=sessions, settings=settings, status=status, q=search,
        sort="-created_at" if newest_first else "created_at", limit=limit, cursor=cursor)
    return cast(CustomerPage, page)


async def customer(sessions: Sessions, reference: str) -> CustomerView:
    return cast(CustomerView, await CustomerController.get_customer.fn(None, customer_id=reference, sessions=sessions))


async def create_customer(sessions: Sessions, *, email: str, customer_type: CustomerType,
                          telegram_id: str | None) -> CustomerView:
    """``InvalidCustomerField`` or ``DuplicateCustomer`` (each naming its field) when refused."""
    data = CustomerCreate(email=email, customer_type=customer_type, telegram_id=telegram_id)
    return cast(CustomerView, await CustomerController.create_customer.fn(None, data=data, sessions=sessions))


async def start_kyc(request: Request[Any, Any, Any], sessions: Sessions, settings: Settings,
                    reference: str) -> KycLink:
    """``Problem`` when KYC cannot start (suspended, FINAL rejection, approved, Sumsub failing)."""
    link = await KycController.create_kyc_link.fn(None, request=request, customer_id=reference, sessions=sessions,
                                                  settings=settings)
    return cast(KycLink, link)


async def deactivate(sessions: Sessions, reference: str) -> CustomerView:
    view = await CustomerController.deactivate_customer.fn(None, customer_id=reference, sessions=sessions)
    return cast(CustomerView, view)


async def customer_callbacks(sessions: Sessions, reference: str) -> list[KycCallbackView]:
    rows = await KycController.customer_callbacks.fn(None, customer_id=reference, sessions=sessions)
    return cast(list[KycCallbackView], rows)


async def callbacks_needing_attention(sessions: Sessions, *, limit: int = 100) -> list[KycCallbackView]:
    rows: list[KycCallbackView] = []
    for status in ATTENTION_STATUSES:
        rows += await KycController.callbacks_by_status.fn(None, sessions=sessions, status=status, limit=limit)
    return sorted(rows, key=lambda row: row.received_at, reverse=True)[:limit]


async def deposit_account(sessions: Sessions, reference: str) -> DepositAccountView | None:
    """None while the customer has no account yet."""
    try:
        view = await DepositAccountController.get_deposit_account.fn(None, customer_id=reference, sessions=sessions)
    except AccountNotFound:
        return None
    return cast(DepositAccountView, view)


async def post_entry(sessions: Sessions, kind: EntryKind, reference: str, amount_cents: int) -> ledger.PostedEntry:
    """As ``POST /api/customers/{id}/deposits`` (or ``/withdrawals``): only an active customer's
    account moves; ``InsufficientFunds`` or ``AccountFrozen`` with nothing written, and a ``Problem``
    (409 ``customer_not_active``) for a customer who may not transact."""
    try:
        return await ledger_service.post_entry(sessions, kind, reference, amount_cents, None)
    except ledger_service.CustomerNotActive as exc:
        raise Problem(409, "customer_not_active", str(exc), activity_status=exc.activity_status) from exc


async def audit_entries(sessions: Sessions, *, subject: str | None, limit: int) -> list[AuditEntry]:
    async with sessions() as session:
        return await recent_decisions(session, subject=subject, limit=limit)

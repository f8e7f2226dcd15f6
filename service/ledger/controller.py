"""HTTP edge of deposit accounts: read one, deposit into it, withdraw from it."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import HeaderParameter, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.guards import requires
from service.auth.permissions import Permission
from service.customers.controller import CustomerReference
from service.dependencies import Sessions
from service.ledger import service
from service.ledger.domain import (
    AccountFrozen,
    AccountNotFound,
    EntryKind,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    validate_amount_cents,
)
from service.ledger.schemas import AmountRequest, DepositAccountView, PostedEntryView
from service.ledger.views import deposit_account_view, posted_entry_view
from service.openapi import OPERATOR, operator_problems
from service.problems import Problem, problem_response

__all__ = ["DepositAccountController", "ledger_problem_handlers"]

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", min_length=1, max_length=128,
    description="repeating a request with the same key answers with the entry it posted, and posts nothing",
)]


ledger_problem_handlers: dict[Any, Any] = {
    AccountNotFound: lambda request, exc: problem_response(request, Problem(404, "account_not_found", str(exc))),
    AccountFrozen: lambda request, exc: problem_response(request, Problem(409, "account_frozen", str(exc))),
    InsufficientFunds: lambda request, exc: problem_response(request, Problem(
        409, "insufficient_funds", str(exc), balance_cents=exc.balance_cents, requested_cents=exc.requested_cents)),
    IdempotencyKeyReused: lambda request, exc: problem_response(
        request, Problem(409, "idempotency_key_reused", str(exc))),
    InvalidAmount: lambda request, exc: problem_response(
        request, Problem(422, "invalid_input", str(exc), field=exc.field)),
}


async def _amount_as_sent(data: AmountRequest, request: Request[Any, Any, Any]) -> int:
    """Litestar converts request bodies leniently ("5" and 5.0 become 5); money is taken only as
    sent, an integer, so the raw JSON value is checked too."""
    raw = await request.json()  # already parsed for ``data``; this is the cached result
    validate_amount_cents(raw.get("amount_cents") if isinstance(raw, dict) else None)
    return data.amount_cents


async def _post_entry(kind: EntryKind, reference: str, data: AmountRequest, request: Request[Any, Any, Any],
                      sessions: async_sessionmaker[AsyncSession], idempotency_key: str | None) -> PostedEntryView:
    amount_cents = await _amount_as_sent(data, request)
    try:
        posted = await service.post_entry(sessions, kind, reference, amount_cents, idempotency_key)
    except service.CustomerNotActive as exc:
        raise Problem(409, "customer_not_active", str(exc), activity_status=exc.activity_status) from exc
    return posted_entry_view(posted)


class DepositAccountController(Controller):
    path = "/api/customers/{customer_id:str}"
    tags = ["deposit accounts"]
    exception_handlers = ledger_problem_handlers

    @get("/account", guards=[requires(Permission.ACCOUNT_READ)], summary="Get a customer's deposit account",
         operation_id="getDepositAccount", security=OPERATOR,
         responses=operator_problems(404, 422, codes={404: ("customer_not_found", "account_not_found")}))
    async def get_deposit_account(self, customer_id: CustomerReference, sessions: Sessions) -> DepositAccountView:
        return deposit_account_view(await service.customer_account(sessions, customer_id))

    @post("/deposits", guards=[requires(Permission.DEPOSIT_CREATE)], status_code=201,
          summary="Deposit into a customer's account", operation_id="createDeposit", security=OPERATOR,
          responses=operator_problems(404, 409, 422, codes={
              404: ("customer_not_found", "account_not_found"),
              409: ("customer_not_active", "account_frozen", "idempotency_key_reused")}))
    async def create_deposit(self, customer_id: CustomerReference, data: JSONBody[AmountRequest],
                             request: Request[Any, Any, Any], sessions: Sessions,
                             idempotency_key: IdempotencyKey = None) -> PostedEntryView:
        return await _post_entry(EntryKind.DEPOSIT, customer_id, data, request, sessions, idempotency_key)

    @post("/withdrawals", guards=[requires(Permission.WITHDRAWAL_CREATE)], status_code=201,
          summary="Withdraw from a customer's account; 409 when it would overdraw, and nothing is written",
          operation_id="createWithdrawal", security=OPERATOR, responses=operator_problems(404, 409, 422, codes={
              404: ("customer_not_found", "account_not_found"),
              409: ("insufficient_funds", "customer_not_active", "account_frozen", "idempotency_key_reused")}))
    async def create_withdrawal(self, customer_id: CustomerReference, data: JSONBody[AmountRequest],
                                request: Request[Any, Any, Any], sessions: Sessions,
                                idempotency_key: IdempotencyKey = None) -> PostedEntryView:
        return await _post_entry(EntryKind.WITHDRAWAL, customer_id, data, request, sessions, idempotency_key)

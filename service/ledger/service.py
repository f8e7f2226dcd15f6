"""The deposit accounts' application service: read a customer's account, post to it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.customers.repository import customer_state, find_customer
from service.ledger import repository
from service.ledger.domain import EntryKind
from service.ledger.repository import DepositAccount, PostedEntry

__all__ = ["CustomerNotActive", "customer_account", "post_entry"]


class CustomerNotActive(Exception):
    def __init__(self, public_id: str, activity_status: str) -> None:
        super().__init__(f"customer {public_id} is {activity_status}, not active")
        self.activity_status = activity_status


async def customer_account(sessions: async_sessionmaker[AsyncSession], reference: str) -> DepositAccount:
    async with sessions() as session:
        customer = await find_customer(session, reference)
        return await repository.deposit_account(session, customer.id)


async def post_entry(sessions: async_sessionmaker[AsyncSession], kind: EntryKind, reference: str,
                     amount_cents: int, idempotency_key: str | None) -> PostedEntry:
    """A deposit or a withdrawal, for a customer who may transact; the books refuse the rest."""
    record = repository.record_deposit if kind is EntryKind.DEPOSIT else repository.record_withdrawal
    async with sessions.begin() as session:
        # under a share lock held to the commit: a deactivation (which locks the row for update) either
        # commits first, and this sees it, or waits until the posting is on the books
        customer = await find_customer(session, reference, for_share=True)
        if not customer_state(customer).may_transact:
            raise CustomerNotActive(customer.public_id, customer.activity_status)
        return await record(session, customer.id, amount_cents, idempotency_key)

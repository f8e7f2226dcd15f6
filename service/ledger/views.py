"""From ledger read models to what the API shows."""

from __future__ import annotations

from service.ledger.repository import AccountEntry, DepositAccount, PostedEntry
from service.ledger.schemas import AccountEntryView, DepositAccountView, PostedEntryView

__all__ = ["account_entry_view", "deposit_account_view", "posted_entry_view"]


def account_entry_view(entry: AccountEntry) -> AccountEntryView:
    return AccountEntryView(entry_id=entry.entry_id, kind=entry.kind, side=entry.side,
                            amount_cents=entry.amount_cents, balance_after_cents=entry.balance_after_cents,
                            posted_at=entry.posted_at, description=entry.description)


def deposit_account_view(account: DepositAccount) -> DepositAccountView:
    return DepositAccountView(
        id=account.id,
        customer_id=account.customer_id,
        status=account.status,
        currency=account.currency,
        balance_cents=account.balance_cents,
        account_set=account.account_set,
        overdraft_prevented=account.overdraft_prevented,
        created_at=account.created_at,
        entries=[account_entry_view(e) for e in account.recent_entries],
    )


def posted_entry_view(posted: PostedEntry) -> PostedEntryView:
    return PostedEntryView(account_id=posted.account_id, entry=account_entry_view(posted.entry),
                           balance_cents=posted.balance_cents, replayed=posted.replayed)

"""The deposit accounts API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from service.ledger.domain import MAX_AMOUNT_CENTS, AccountStatus, EntryKind, Side

__all__ = ["AccountEntryView", "AmountRequest", "DepositAccountView", "PostedEntryView"]


class AmountRequest(msgspec.Struct, forbid_unknown_fields=True):
    amount_cents: Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT_CENTS, examples=[12_500],
                                              description="US cents, a positive integer")]


class AccountEntryView(msgspec.Struct):
    entry_id: UUID
    kind: EntryKind
    side: Side
    amount_cents: int
    balance_after_cents: int
    posted_at: datetime
    description: str


class DepositAccountView(msgspec.Struct):
    id: UUID
    customer_id: UUID
    status: AccountStatus
    currency: str
    balance_cents: int
    account_set: str
    overdraft_prevented: bool
    created_at: datetime
    entries: list[AccountEntryView]


class PostedEntryView(msgspec.Struct):
    account_id: UUID
    entry: AccountEntryView
    balance_cents: int
    replayed: bool

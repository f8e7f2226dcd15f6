"""Ledger rules, in plain Python: which account set a customer's deposits live in, what an amount
is, and which lines a deposit or a withdrawal posts.

Every deposit account is a liability of the bank to the customer, so its normal balance is on the
credit side; the bank's settlement (cash) account is an asset, normal on the debit side. A deposit
debits cash and credits the customer; a withdrawal does the opposite.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from service.customers.domain import CustomerType

__all__ = [
    "CURRENCY",
    "DEPOSIT_ACCOUNT_SETS",
    "DEPOSIT_OMNIBUS_ACCOUNT_SET",
    "MAX_AMOUNT_CENTS",
    "SETTLEMENT_ACCOUNT_CODE",
    "AccountFrozen",
    "AccountNotFound",
    "AccountStatus",
    "EntryKind",
    "IdempotencyKeyReused",
    "InsufficientFunds",
    "InvalidAmount",
    "LedgerError",
    "Posting",
    "Side",
    "deposit_account_code",
    "deposit_account_set_name",
    "deposit_postings",
    "is_balanced",
    "validate_amount_cents",
    "withdrawal_postings",
]

CURRENCY = "USD"
# Ten billion dollars: far above any single deposit, far below where bigint sums could overflow.
MAX_AMOUNT_CENTS = 10**13

DEPOSIT_OMNIBUS_ACCOUNT_SET = "deposit-omnibus-account-set"
DEPOSIT_ACCOUNT_SETS: Mapping[CustomerType, str] = MappingProxyType({
    CustomerType.INDIVIDUAL: "deposit-individual-account-set",
    CustomerType.GOVERNMENT_ENTITY: "deposit-government-entity-account-set",
    CustomerType.PRIVATE_COMPANY: "deposit-private-company-account-set",
    CustomerType.BANK: "deposit-bank-account-set",
    CustomerType.FINANCIAL_INSTITUTION: "deposit-financial-institution-account-set",
    CustomerType.FOREIGN_AGENCY_OR_SUBSIDIARY: "deposit-foreign-agency-or-subsidiary-account-set",
    CustomerType.NON_DOMICILED_COMPANY: "deposit-non-domiciled-company-account-set",
})
SETTLEMENT_ACCOUNT_CODE = "bank-settlement-usd"


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class LedgerError(Exception):
    """A ledger operation refused for a reason its caller can act on."""


class InvalidAmount(LedgerError, ValueError):
    field = "amount_cents"


class AccountNotFound(LedgerError):
    def __init__(self, customer_id: uuid.UUID) -> None:
        super().__init__(f"customer {customer_id} has no deposit account")
        self.customer_id = customer_id


class AccountFrozen(LedgerError):
    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(f"deposit account {account_id} is frozen")
        self.account_id = account_id


class InsufficientFunds(LedgerError):
    def __init__(self, account_id: uuid.UUID, *, requested_cents: int, balance_cents: int) -> None:
        super().__init__(f"withdrawing {requested_cents} cents would overdraw deposit account {account_id} "
                         f"(balance {balance_cents} cents)")
        self.account_id = account_id
        self.requested_cents = requested_cents
        self.balance_cents = balance_cents


class IdempotencyKeyReused(LedgerError):
    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different entry")
        self.key = key


def deposit_account_set_name(customer_type: CustomerType) -> str:
    return DEPOSIT_ACCOUNT_SETS[CustomerType(customer_type)]


def deposit_account_code(customer_id: uuid.UUID) -> str:
    return f"deposit-{customer_id}"


def validate_amount_cents(value: object) -> int:
    """A positive whole number of cents, at most ``MAX_AMOUNT_CENTS``. Strict on type: ``True``,
    ``5.0`` and ``"5"`` are not amounts, whatever they would convert to."""
    if type(value) is not int:  # bool is a subclass of int, and is refused with everything else
        raise InvalidAmount(f"amount_cents must be an integer number of cents, not {type(value).__name__}")
    if value <= 0:
        raise InvalidAmount("amount_cents must be positive")
    if value > MAX_AMOUNT_CENTS:
        raise InvalidAmount(f"amount_cents must be at most {MAX_AMOUNT_CENTS}")
    return value


@dataclass(frozen=True)
class Posting:
    account_id: uuid.UUID
    side: Side
    amount_cents: int


def deposit_postings(*, deposit_account_id: uuid.UUID, settlement_account_id: uuid.UUID,
                     amount_cents: int) -> tuple[Posting, Posting]:
    return (Posting(settlement_account_id, Side.DEBIT, amount_cents),
            Posting(deposit_account_id, Side.CREDIT, amount_cents))


def withdrawal_postings(*, deposit_account_id: uuid.UUID, settlement_account_id: uuid.UUID,
                        amount_cents: int) -> tuple[Posting, Posting]:
    return (Posting(deposit_account_id, Side.DEBIT, amount_cents),
            Posting(settlement_account_id, Side.CREDIT, amount_cents))


def is_balanced(postings: Sequence[Posting]) -> bool:
    debits = sum(p.amount_cents for p in postings if p.side is Side.DEBIT)
    credits = sum(p.amount_cents for p in postings if p.side is Side.CREDIT)
    return bool(postings) and debits == credits

"""Deposit accounts in the PostgreSQL ledger: open, post deposits and withdrawals, freeze, read.

The database keeps the books honest (see migration 0003); this module builds balanced entries and
turns the database's refusals into typed errors. Each posting runs in a savepoint, so a refused
one writes nothing and leaves the caller's transaction usable. Lines are inserted in account-id
order, which is the order their rows are locked in, so two postings never deadlock each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import psycopg
from sqlalchemy import String, Table, bindparam, func, insert, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from service.customers.domain import CustomerType
from service.db.driver import DriverStatement
from service.ledger.domain import (
    CURRENCY,
    SETTLEMENT_ACCOUNT_CODE,
    AccountFrozen,
    AccountNotFound,
    AccountStatus,
    EntryKind,
    IdempotencyKeyReused,
    InsufficientFunds,
    Posting,
    Side,
    deposit_account_code,
    deposit_account_set_name,
    deposit_postings,
    is_balanced,
    validate_amount_cents,
    withdrawal_postings,
)
from service.ledger.models import JournalEntryRecord, JournalLineRecord, LedgerAccountRecord, LedgerAccountSetRecord

__all__ = [
    "RECENT_ENTRIES",
    "AccountEntry",
    "DepositAccount",
    "LedgerTotals",
    "PostedEntry",
    "deposit_account",
    "ensure_deposit_account",
    "freeze_deposit_account",
    "ledger_totals",
    "open_deposit_account",
    "record_deposit",
    "record_withdrawal",
]

RECENT_ENTRIES = 20
_NO_OVERDRAFT = "ck_ledger_accounts_no_overdraft"
_FROZEN = "ledger_account_frozen"
_DESCRIPTIONS = {EntryKind.DEPOSIT: "Cash deposit", EntryKind.WITHDRAWAL: "Cash withdrawal"}


@dataclass(frozen=True)
class AccountEntry:
    """A journal entry as one account sees it: the side and amount of its line there."""

    entry_id: uuid.UUID
    kind: EntryKind
    side: Side
    amount_cents: int
    balance_after_cents: int
    posted_at: datetime
    description: str


@dataclass(frozen=True)
class DepositAccount:
    id: uuid.UUID
    customer_id: uuid.UUID
    status: AccountStatus
    currency: str
    balance_cents: int
    account_set: str
    overdraft_prevented: bool
    created_at: datetime
    recent_entries: tuple[AccountEntry, ...]


@dataclass(frozen=True)
class PostedEntry:
    """A deposit or withdrawal on the books; ``replayed`` when its idempotency key had already posted it."""

    account_id: uuid.UUID
    entry: AccountEntry
    balance_cents: int
    replayed: bool


@dataclass(frozen=True)
class LedgerTotals:
    debits_cents: int
    credits_cents: int

    @property
    def balanced(self) -> bool:
        return self.debits_cents == self.credits_cents


async def open_deposit_account(session: AsyncSession, customer_id: uuid.UUID,
                               customer_type: CustomerType, *, recent: int = RECENT_ENTRIES) -> DepositAccount:
    """The customer's USD deposit account, opened in their type's account set unless it exists.

    Safe to repeat and to race: the unique external id makes every call after the first (and every
    concurrent one, once the first commits) find the same account."""
    set_name = deposit_account_set_name(customer_type)
    account_set_id = await session.scalar(
        select(LedgerAccountSetRecord.id).where(LedgerAccountSetRecord.name == set_name))
    if account_set_id is None:
        raise LookupError(f"ledger account set {set_name!r} is missing: are the migrations applied?")
    await session.execute(
        pg_insert(LedgerAccountRecord)
        .values(code=deposit_account_code(customer_id), name=f"USD deposit account of customer {customer_id}",
                external_id=str(customer_id), account_set_id=account_set_id, normal_balance=Side.CREDIT.value,
                currency=CURRENCY, overdraft_prevented=True)
        .on_conflict_do_nothing(index_elements=[LedgerAccountRecord.external_id])
    )
    return await deposit_account(session, customer_id, recent=recent)


# the deposit-account step's statements: built once and sent on the driver (``service.db.driver``),
# run with each customer's values (building them anew costs more CPU than running them)
_OPEN_DEPOSIT_ACCOUNT = DriverStatement(
    pg_insert(cast(Table, LedgerAccountRecord.__table__))  # the table: with values, an entity means a bulk insert
    .from_select(["code", "name", "external_id", "account_set_id", "normal_balance", "currency",
                  "overdraft_prevented"],
                 select(bindparam("the_code", type_=String), bindparam("the_name", type_=String),
                        bindparam("the_external_id", type_=String), LedgerAccountSetRecord.id,
                        literal(Side.CREDIT.value), literal(CURRENCY), true())
                 .where(LedgerAccountSetRecord.name == bindparam("the_set")))
    .on_conflict_do_nothing(index_elements=[LedgerAccountRecord.external_id])
    .returning(LedgerAccountRecord.id)
)
_DEPOSIT_ACCOUNT_ID = DriverStatement(select(LedgerAccountRecord.id).where(
    LedgerAccountRecord.external_id == bindparam("the_external_id")))


async def ensure_deposit_account(session: AsyncSession, customer_id: uuid.UUID,
                                 customer_type: CustomerType) -> uuid.UUID:
    """:func:`open_deposit_account`, answering only the account's id: one statement when it opens it
    (the account set is looked up in the ``INSERT``), a second when the account was there already."""
    set_name = deposit_account_set_name(customer_type)
    opened = await _OPEN_DEPOSIT_ACCOUNT.first(session, {
        "the_code": deposit_account_code(customer_id), "the_name": f"USD deposit account of customer {customer_id}",
        "the_external_id": str(customer_id), "the_set": set_name})
    if opened is not None:
        return cast(uuid.UUID, opened.id)
    # opened before (or by a concurrent transaction, now committed): this statement's snapshot sees it
    found = await _DEPOSIT_ACCOUNT_ID.first(session, {"the_external_id": str(customer_id)})
    if found is None:
        raise LookupError(f"ledger account set {set_name!r} is missing: are the migrations applied?")
    return cast(uuid.UUID, found.id)


async def deposit_account(session: AsyncSession, customer_id: uuid.UUID, *,
                          recent: int = RECENT_ENTRIES) -> DepositAccount:
    account, set_name = await _deposit_account_row(session, customer_id)
    return DepositAccount(
        id=account.id,
        customer_id=customer_id,
        status=AccountStatus(account.status),
        currency=account.currency,
        balance_cents=account.balance_cents,
        account_set=set_name,
        overdraft_prevented=account.overdraft_prevented,
        created_at=account.created_at,
        recent_entries=tuple(await _recent_entries(session, account.id, recent)),
    )


async def record_deposit(session: AsyncSession, customer_id: uuid.UUID, amount_cents: int,
                         idempotency_key: str | None = None) -> PostedEntry:
    """Credit the customer's deposit account (and debit the bank's cash)."""
    return await _record(session, customer_id, EntryKind.DEPOSIT, amount_cents, idempotency_key)


async def record_withdrawal(session: AsyncSession, customer_id: uuid.UUID, amount_cents: int,
                            idempotency_key: str | None = None) -> PostedEntry:
    """Debit the customer's deposit account (and credit the bank's cash); ``InsufficientFunds``,
    with nothing written, when the balance does not cover it."""
    return await _record(session, customer_id, EntryKind.WITHDRAWAL, amount_cents, idempotency_key)


async def freeze_deposit_account(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """Freeze; False when the account already was (freezing twice is not an error)."""
    frozen = await session.scalar(
        update(LedgerAccountRecord)
        .where(LedgerAccountRecord.external_id == str(customer_id),
               LedgerAccountRecord.status == AccountStatus.ACTIVE.value)
        .values(status=AccountStatus.FROZEN.value, frozen_at=func.now())
        .returning(LedgerAccountRecord.id)
    )
    if frozen is None:
        await _deposit_account_row(session, customer_id)  # raises AccountNotFound when there is none
        return False
    return True


async def ledger_totals(session: AsyncSession) -> LedgerTotals:
    """Every debit and every credit ever posted; double entry means the two are equal."""
    debits, credits = (await session.execute(select(
        func.coalesce(func.sum(JournalLineRecord.amount_cents).filter(JournalLineRecord.side == Side.DEBIT.value), 0),
        func.coalesce(func.sum(JournalLineRecord.amount_cents).filter(JournalLineRecord.side == Side.CREDIT.value), 0),
    ))).one()
    return LedgerTotals(int(debits), int(credits))


async def _deposit_account_row(session: AsyncSession,
                               customer_id: uuid.UUID) -> tuple[LedgerAccountRecord, str]:
    row = (await session.execute(
        select(LedgerAccountRecord, LedgerAccountSetRecord.name)
        .join(LedgerAccountSetRecord, LedgerAccountSetRecord.id == LedgerAccountRecord.account_set_id)
        .where(LedgerAccountRecord.external_id == str(customer_id))
        # the balance a read shows is the committed one, never a stale copy from the identity map
        .execution_options(populate_existing=True)
    )).one_or_none()
    if row is None:
        raise AccountNotFound(customer_id)
    return row[0], row[1]


async def _recent_entries(session: AsyncSession, account_id: uuid.UUID, limit: int) -> list[AccountEntry]:
    if limit <= 0:
        return []
    rows = await session.execute(
        select(JournalEntryRecord.id, JournalEntryRecord.kind, JournalLineRecord.side, JournalLineRecord.amount_cents,
               JournalLineRecord.balance_after_cents, JournalEntryRecord.posted_at, JournalEntryRecord.description)
        .join(JournalEntryRecord, JournalEntryRecord.id == JournalLineRecord.entry_id)
        .where(JournalLineRecord.account_id == account_id)
        .order_by(JournalLineRecord.id.desc())
        .limit(limit)
    )
    return [_account_entry(*row) for row in rows]


def _account_entry(entry_id: uuid.UUID, kind: str, side: str, amount_cents: int, balance_after_cents: int,
                   posted_at: datetime, description: str) -> AccountEntry:
    return AccountEntry(entry_id, EntryKind(kind), Side(side), amount_cents, balance_after_cents, posted_at,
                        description)


async def _record(session: AsyncSession, customer_id: uuid.UUID, kind: EntryKind, amount_cents: int,
                  idempotency_key: str | None) -> PostedEntry:
    amount = validate_amount_cents(amount_cents)
    account, _ = await _deposit_account_row(session, customer_id)
    if idempotency_key is not None:
        replay = await _replay(session, idempotency_key, account.id, kind, amount)
        if replay is not None:
            return replay
    if account.status == AccountStatus.FROZEN.value:
        raise AccountFrozen(account.id)
    settlement_id = await session.scalar(
        select(LedgerAccountRecord.id).where(LedgerAccountRecord.code == SETTLEMENT_ACCOUNT_CODE))
    if settlement_id is None:
        raise LookupError(f"ledger account {SETTLEMENT_ACCOUNT_CODE!r} is missing: are the migrations applied?")
    build = deposit_postings if kind is EntryKind.DEPOSIT else withdrawal_postings
    postings = build(deposit_account_id=account.id, settlement_account_id=settlement_id, amount_cents=amount)
    try:
        async with session.begin_nested():
            entry = await _post(session, kind, postings, account.id, idempotency_key)
    except DBAPIError as exc:
        constraint = exc.orig.diag.constraint_name if isinstance(exc.orig, psycopg.Error) else None
        if constraint == _NO_OVERDRAFT:
            balance = await session.scalar(
                select(LedgerAccountRecord.balance_cents).where(LedgerAccountRecord.id == account.id))
            raise InsufficientFunds(account.id, requested_cents=amount, balance_cents=int(balance or 0)) from exc
        if constraint == _FROZEN:
            raise AccountFrozen(account.id) from exc
        raise
    if entry is not None:
        return PostedEntry(account.id, entry, entry.balance_after_cents, replayed=False)
    # the key was taken by a concurrent request, which has committed (the insert waited for it)
    assert idempotency_key is not None  # without a key there is no conflict to lose
    replay = await _replay(session, idempotency_key, account.id, kind, amount)
    if replay is None:
        raise IdempotencyKeyReused(idempotency_key)
    return replay


async def _post(session: AsyncSession, kind: EntryKind, postings: Sequence[Posting], account_id: uuid.UUID,
                idempotency_key: str | None) -> AccountEntry | None:
    """Write the entry and its lines; None when the idempotency key is already taken."""
    if not is_balanced(postings):
        # the database would refuse it at commit; refuse it here, where the cause is plain
        raise ValueError(f"unbalanced postings: {postings}")
    entry_insert = pg_insert(JournalEntryRecord).values(
        kind=kind.value, description=_DESCRIPTIONS[kind], idempotency_key=idempotency_key)
    if idempotency_key is not None:
        entry_insert = entry_insert.on_conflict_do_nothing(index_elements=[JournalEntryRecord.idempotency_key])
    entry = (await session.execute(
        entry_insert.returning(JournalEntryRecord.id, JournalEntryRecord.posted_at))).one_or_none()
    if entry is None:
        return None
    entry_id, posted_at = entry
    lines = (await session.execute(
        insert(JournalLineRecord)
        .values([{"entry_id": entry_id, "account_id": p.account_id, "side": p.side.value,
                  "amount_cents": p.amount_cents}
                 for p in sorted(postings, key=lambda p: p.account_id)])
        .returning(JournalLineRecord.account_id, JournalLineRecord.side, JournalLineRecord.amount_cents,
                   JournalLineRecord.balance_after_cents)
    )).all()
    side, amount, balance_after = next((s, a, b) for a_id, s, a, b in lines if a_id == account_id)
    return _account_entry(entry_id, kind.value, side, amount, balance_after, posted_at, _DESCRIPTIONS[kind])


async def _replay(session: AsyncSession, idempotency_key: str, account_id: uuid.UUID, kind: EntryKind,
                  amount_cents: int) -> PostedEntry | None:
    """The entry this key already posted, when it is this very request again; ``IdempotencyKeyReused``
    when the key posted something else."""
    entry = await session.scalar(
        select(JournalEntryRecord).where(JournalEntryRecord.idempotency_key == idempotency_key))
    if entry is None:
        return None
    line = await session.scalar(
        select(JournalLineRecord).where(JournalLineRecord.entry_id == entry.id,
                                        JournalLineRecord.account_id == account_id))
    if line is None or entry.kind != kind.value or line.amount_cents != amount_cents:
        raise IdempotencyKeyReused(idempotency_key)
    balance = await session.scalar(
        select(LedgerAccountRecord.balance_cents).where(LedgerAccountRecord.id == account_id))
    return PostedEntry(account_id, _account_entry(entry.id, entry.kind, line.side, line.amount_cents,
                                                  line.balance_after_cents, entry.posted_at, entry.description),
                       int(balance or 0), replayed=True)

"""Deposit accounts through the ledger's service functions, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import aliased

from service.customers.domain import CustomerType
from service.db.engine import session_factory, sqlalchemy_url
from service.ledger.domain import (
    DEPOSIT_OMNIBUS_ACCOUNT_SET,
    SETTLEMENT_ACCOUNT_CODE,
    AccountFrozen,
    AccountNotFound,
    AccountStatus,
    EntryKind,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    Side,
)
from service.ledger.models import JournalEntryRecord, JournalLineRecord, LedgerAccountRecord, LedgerAccountSetRecord
from service.ledger.repository import (
    DepositAccount,
    PostedEntry,
    deposit_account,
    freeze_deposit_account,
    ledger_totals,
    open_deposit_account,
    record_deposit,
    record_withdrawal,
)
from tests.support.waiting import eventually

Sessions = async_sessionmaker[AsyncSession]
# enough connections for real races (the 50 concurrent withdrawals queue for them), few enough for a
# server that other test runs share
CONNECTIONS = 25


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_async_engine(sqlalchemy_url(database_url), pool_size=CONNECTIONS, max_overflow=0)
    yield session_factory(engine)
    await engine.dispose()


async def open_account(sessions: Sessions, customer_type: CustomerType = CustomerType.INDIVIDUAL,
                       *, balance_cents: int = 0) -> uuid.UUID:
    customer_id = uuid.uuid4()
    async with sessions.begin() as session:
        await open_deposit_account(session, customer_id, customer_type)
        if balance_cents:
            await record_deposit(session, customer_id, balance_cents)
    return customer_id


async def read_account(sessions: Sessions, customer_id: uuid.UUID) -> DepositAccount:
    async with sessions() as session:
        return await deposit_account(session, customer_id)


async def settlement_balance(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(LedgerAccountRecord.balance_cents)
                                        .where(LedgerAccountRecord.code == SETTLEMENT_ACCOUNT_CODE)) or 0)


async def lines_on(sessions: Sessions, account_id: uuid.UUID) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(JournalLineRecord)
                                        .where(JournalLineRecord.account_id == account_id)) or 0)


async def entries_with_key(sessions: Sessions, key: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(JournalEntryRecord)
                                        .where(JournalEntryRecord.idempotency_key == key)) or 0)


@pytest.mark.parametrize("customer_type", list(CustomerType), ids=str)
async def test_each_customer_types_account_lands_in_its_types_set_under_the_omnibus(
        sessions: Sessions, customer_type: CustomerType) -> None:
    customer_id = uuid.uuid4()
    async with sessions.begin() as session:
        account = await open_deposit_account(session, customer_id, customer_type)
    assert account.account_set == f"deposit-{customer_type.value.replace('_', '-')}-account-set"
    child = aliased(LedgerAccountSetRecord)
    async with sessions() as session:
        parent = await session.scalar(select(LedgerAccountSetRecord.name)
                                      .join(child, child.parent_id == LedgerAccountSetRecord.id)
                                      .where(child.name == account.account_set))
    assert parent == DEPOSIT_OMNIBUS_ACCOUNT_SET


async def test_a_new_account_is_an_active_usd_account_at_zero_with_overdraft_prevented(sessions: Sessions) -> None:
    customer_id = uuid.uuid4()
    async with sessions.begin() as session:
        account = await open_deposit_account(session, customer_id, CustomerType.BANK)
    assert account.customer_id == customer_id
    assert (account.status, account.currency, account.balance_cents) == (AccountStatus.ACTIVE, "USD", 0)
    assert account.overdraft_prevented is True
    assert account.recent_entries == ()


async def test_opening_again_returns_the_same_account(sessions: Sessions) -> None:
    customer_id = await open_account(sessions, balance_cents=500)
    async with sessions.begin() as session:
        again = await open_deposit_account(session, customer_id, CustomerType.INDIVIDUAL)
    assert again == await read_account(sessions, customer_id)
    assert again.balance_cents == 500


async def test_ten_concurrent_opens_make_one_account(sessions: Sessions) -> None:
    customer_id = uuid.uuid4()

    async def open_in_own_transaction() -> DepositAccount:
        async with sessions.begin() as session:
            return await open_deposit_account(session, customer_id, CustomerType.PRIVATE_COMPANY)

    opened = await asyncio.gather(*(open_in_own_transaction() for _ in range(10)))
    assert {account.id for account in opened} == {opened[0].id}
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(LedgerAccountRecord)
                                     .where(LedgerAccountRecord.external_id == str(customer_id)))
    assert count == 1


async def test_deposits_and_withdrawals_move_the_balance_and_the_banks_cash(sessions: Sessions) -> None:
    customer_id = await open_account(sessions)
    cash_before = await settlement_balance(sessions)
    async with sessions.begin() as session:
        first = await record_deposit(session, customer_id, 10_000)
        second = await record_withdrawal(session, customer_id, 2_500)
        third = await record_deposit(session, customer_id, 1)
    assert [p.balance_cents for p in (first, second, third)] == [10_000, 7_500, 7_501]
    assert (second.entry.kind, second.entry.side, second.entry.amount_cents) == (EntryKind.WITHDRAWAL, Side.DEBIT,
                                                                                 2_500)
    account = await read_account(sessions, customer_id)
    assert account.balance_cents == 7_501
    assert [(e.kind, e.side, e.amount_cents, e.balance_after_cents) for e in account.recent_entries] == [
        (EntryKind.DEPOSIT, Side.CREDIT, 1, 7_501),
        (EntryKind.WITHDRAWAL, Side.DEBIT, 2_500, 7_500),
        (EntryKind.DEPOSIT, Side.CREDIT, 10_000, 10_000),
    ]
    assert await settlement_balance(sessions) == cash_before + 7_501


async def test_recent_entries_are_limited_newest_first(sessions: Sessions) -> None:
    customer_id = await open_account(sessions)
    async with sessions.begin() as session:
        for amount in range(1, 6):
            await record_deposit(session, customer_id, amount)
    async with sessions() as session:
        account = await deposit_account(session, customer_id, recent=3)
    assert [e.amount_cents for e in account.recent_entries] == [5, 4, 3]


async def test_an_overdraft_is_refused_with_nothing_written_and_the_transaction_still_usable(
        sessions: Sessions) -> None:
    customer_id = await open_account(sessions, balance_cents=1_000)
    account = await read_account(sessions, customer_id)
    lines_before = await lines_on(sessions, account.id)
    async with sessions.begin() as session:
        with pytest.raises(InsufficientFunds) as refused:
            await record_withdrawal(session, customer_id, 1_001, idempotency_key=f"overdraft-{customer_id}")
        assert (refused.value.balance_cents, refused.value.requested_cents) == (1_000, 1_001)
        # the refusal rolled back only its own savepoint: the same transaction goes on
        await record_withdrawal(session, customer_id, 1_000)
    assert (await read_account(sessions, customer_id)).balance_cents == 0
    assert await lines_on(sessions, account.id) == lines_before + 1
    assert await entries_with_key(sessions, f"overdraft-{customer_id}") == 0


async def test_a_frozen_account_refuses_deposits_and_withdrawals(sessions: Sessions) -> None:
    customer_id = await open_account(sessions, balance_cents=5_000)
    async with sessions.begin() as session:
        assert await freeze_deposit_account(session, customer_id) is True
    async with sessions.begin() as session:
        assert await freeze_deposit_account(session, customer_id) is False
    for record in (record_deposit, record_withdrawal):
        async with sessions.begin() as session:
            with pytest.raises(AccountFrozen):
                await record(session, customer_id, 100)
    account = await read_account(sessions, customer_id)
    assert (account.status, account.balance_cents, len(account.recent_entries)) == (AccountStatus.FROZEN, 5_000, 1)


async def test_a_freeze_committed_while_a_deposit_is_in_flight_refuses_the_deposit(sessions: Sessions) -> None:
    """The deposit reads the account as active, then waits for the freezing transaction's row lock;
    the posting trigger, not that earlier read, decides."""
    customer_id = await open_account(sessions, balance_cents=100)
    async with sessions() as freezing:
        await freeze_deposit_account(freezing, customer_id)  # holds the account's row lock until commit
        depositing = asyncio.create_task(deposit_in_own_transaction(sessions, customer_id, 50))
        await eventually(lambda: waiting_for_a_lock(sessions), what="the deposit waiting on the frozen row")
        await freezing.commit()
        with pytest.raises(AccountFrozen) as refused:
            await depositing
        assert isinstance(refused.value.__cause__, DBAPIError)  # refused by the database, not by the early read
    account = await read_account(sessions, customer_id)
    assert (account.status, account.balance_cents, len(account.recent_entries)) == (AccountStatus.FROZEN, 100, 1)


async def deposit_in_own_transaction(sessions: Sessions, customer_id: uuid.UUID, amount_cents: int) -> PostedEntry:
    async with sessions.begin() as session:
        return await record_deposit(session, customer_id, amount_cents)


async def waiting_for_a_lock(sessions: Sessions) -> bool:
    async with sessions() as session:
        return bool(await session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


async def test_a_customer_without_an_account_is_told_so(sessions: Sessions) -> None:
    stranger = uuid.uuid4()
    async with sessions.begin() as session:
        with pytest.raises(AccountNotFound):
            await deposit_account(session, stranger)
        with pytest.raises(AccountNotFound):
            await freeze_deposit_account(session, stranger)
        for record in (record_deposit, record_withdrawal):
            with pytest.raises(AccountNotFound):
                await record(session, stranger, 100)


@pytest.mark.parametrize("amount", [0, -5, 10**13 + 1, 1.5, "100", True],
                         ids=["zero", "negative", "enormous", "fractional", "string", "bool"])
async def test_bad_amounts_are_refused_before_anything_is_written(sessions: Sessions, amount: object) -> None:
    customer_id = await open_account(sessions, balance_cents=1_000)
    account = await read_account(sessions, customer_id)
    for record in (record_deposit, record_withdrawal):
        async with sessions.begin() as session:
            with pytest.raises(InvalidAmount):
                await record(session, customer_id, amount)  # type: ignore[arg-type]
    assert await lines_on(sessions, account.id) == 1


async def test_the_same_idempotency_key_posts_once(sessions: Sessions) -> None:
    customer_id = await open_account(sessions)
    key = f"deposit-{uuid.uuid4()}"
    async with sessions.begin() as session:
        first = await record_deposit(session, customer_id, 700, idempotency_key=key)
    async with sessions.begin() as session:
        again = await record_deposit(session, customer_id, 700, idempotency_key=key)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.entry == first.entry
    assert again.balance_cents == 700
    assert await entries_with_key(sessions, key) == 1


async def test_an_idempotency_key_reused_for_something_else_is_refused(sessions: Sessions) -> None:
    customer_id = await open_account(sessions, balance_cents=1_000)
    other_customer = await open_account(sessions)
    key = f"withdrawal-{uuid.uuid4()}"
    async with sessions.begin() as session:
        await record_withdrawal(session, customer_id, 300, idempotency_key=key)
    for record, customer, amount in ((record_withdrawal, customer_id, 301), (record_deposit, customer_id, 300),
                                     (record_withdrawal, other_customer, 300)):
        async with sessions.begin() as session:
            with pytest.raises(IdempotencyKeyReused):
                await record(session, customer, amount, idempotency_key=key)
    assert (await read_account(sessions, customer_id)).balance_cents == 700


async def test_concurrent_requests_with_one_idempotency_key_post_once(sessions: Sessions) -> None:
    customer_id = await open_account(sessions)
    key = f"deposit-{uuid.uuid4()}"

    async def deposit() -> PostedEntry:
        async with sessions.begin() as session:
            return await record_deposit(session, customer_id, 250, idempotency_key=key)

    posted = await asyncio.gather(*(deposit() for _ in range(8)))
    assert {p.entry.entry_id for p in posted} == {posted[0].entry.entry_id}
    assert sorted(p.replayed for p in posted) == [False] + [True] * 7
    assert (await read_account(sessions, customer_id)).balance_cents == 250


async def test_fifty_concurrent_withdrawals_never_overdraw(sessions: Sessions) -> None:
    customer_id = await open_account(sessions, balance_cents=10_000)

    async def withdraw() -> int:
        try:
            async with sessions.begin() as session:
                await record_withdrawal(session, customer_id, 300)
        except InsufficientFunds:
            return 0
        return 300

    withdrawn = await asyncio.gather(*(withdraw() for _ in range(50)))
    balance = (await read_account(sessions, customer_id)).balance_cents
    assert sum(withdrawn) <= 10_000
    assert balance == 10_000 - sum(withdrawn)
    # each withdrawal sees the balance the one before it left, so exactly as many fit as the money allows
    assert withdrawn.count(300) == 10_000 // 300
    assert balance == 10_000 % 300


async def test_concurrent_deposits_and_withdrawals_across_accounts_neither_deadlock_nor_lose_updates(
        sessions: Sessions) -> None:
    first, second = await open_account(sessions), await open_account(sessions, balance_cents=2_000)
    cash_before = await settlement_balance(sessions)

    async def post(record: object, customer_id: uuid.UUID, amount: int) -> None:
        async with sessions.begin() as session:
            await record(session, customer_id, amount)  # type: ignore[operator]

    await asyncio.gather(*(
        post(record, customer_id, 100)
        for _ in range(10)
        for record, customer_id in ((record_deposit, first), (record_withdrawal, second), (record_deposit, second))
    ))
    assert (await read_account(sessions, first)).balance_cents == 1_000
    assert (await read_account(sessions, second)).balance_cents == 2_000
    assert await settlement_balance(sessions) == cash_before + 1_000
    async with sessions() as session:
        assert (await ledger_totals(session)).balanced

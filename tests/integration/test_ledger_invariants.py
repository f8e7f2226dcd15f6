"""What PostgreSQL itself guarantees about the books, whatever SQL is sent: balanced entries,
balances that follow the lines, no overdraft, no edits, no lines on a frozen account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.customers.domain import CustomerType
from service.db.engine import create_engine, session_factory
from service.ledger.domain import SETTLEMENT_ACCOUNT_CODE
from service.ledger.repository import (
    freeze_deposit_account,
    ledger_totals,
    open_deposit_account,
    record_deposit,
)

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url, pool_size=2)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def funded_account(sessions: Sessions) -> uuid.UUID:
    """A deposit account holding 1,000 cents; its ledger account id."""
    customer_id = uuid.uuid4()
    async with sessions.begin() as session:
        account = await open_deposit_account(session, customer_id, CustomerType.INDIVIDUAL)
        await record_deposit(session, customer_id, 1_000)
    return account.id


async def scalar(sessions: Sessions, sql: str, **params: Any) -> Any:
    async with sessions() as session:
        return await session.scalar(text(sql), params)


async def balance_of(sessions: Sessions, account_id: uuid.UUID) -> int:
    return int(await scalar(sessions, "SELECT balance_cents FROM ledger_accounts WHERE id = :id", id=account_id))


async def post_by_hand(session: AsyncSession, lines: list[tuple[uuid.UUID, str, int]]) -> uuid.UUID:
    entry_id = uuid.uuid4()
    await session.execute(text("INSERT INTO journal_entries (id, kind, description) "
                               "VALUES (:id, 'deposit', 'by hand')"), {"id": entry_id})
    for account_id, side, amount in lines:
        await session.execute(text("INSERT INTO journal_lines (entry_id, account_id, side, amount_cents) "
                                   "VALUES (:entry, :account, :side, :amount)"),
                              {"entry": entry_id, "account": account_id, "side": side, "amount": amount})
    return entry_id


async def settlement_id(sessions: Sessions) -> uuid.UUID:
    return uuid.UUID(str(await scalar(sessions, "SELECT id FROM ledger_accounts WHERE code = :code",
                                      code=SETTLEMENT_ACCOUNT_CODE)))


async def test_an_unbalanced_entry_is_refused_at_commit(sessions: Sessions, funded_account: uuid.UUID) -> None:
    cash = await settlement_id(sessions)
    session = sessions()
    try:
        entry_id = await post_by_hand(session, [(cash, "debit", 100), (funded_account, "credit", 99)])
        # each line was accepted as it came: the check waits for the whole entry, at commit
        with pytest.raises(DBAPIError, match="unbalanced"):
            await session.commit()
    finally:
        await session.close()
    assert await scalar(sessions, "SELECT count(*) FROM journal_entries WHERE id = :id", id=entry_id) == 0
    assert await balance_of(sessions, funded_account) == 1_000


async def test_a_balanced_entry_by_hand_is_accepted_and_moves_both_balances(sessions: Sessions,
                                                                            funded_account: uuid.UUID) -> None:
    cash = await settlement_id(sessions)
    cash_before = await balance_of(sessions, cash)
    async with sessions.begin() as session:
        await post_by_hand(session, [(cash, "debit", 60), (funded_account, "credit", 40),
                                     (funded_account, "credit", 20)])
    assert await balance_of(sessions, funded_account) == 1_060
    assert await balance_of(sessions, cash) == cash_before + 60


async def test_an_entry_without_lines_is_refused_at_commit(sessions: Sessions) -> None:
    with pytest.raises(DBAPIError, match="has no lines"):
        async with sessions.begin() as session:
            await post_by_hand(session, [])


async def test_no_sql_can_overdraw_an_overdraft_prevented_account(sessions: Sessions,
                                                                  funded_account: uuid.UUID) -> None:
    cash = await settlement_id(sessions)
    with pytest.raises(DBAPIError, match="ck_ledger_accounts_no_overdraft"):
        async with sessions.begin() as session:
            await post_by_hand(session, [(funded_account, "debit", 1_001), (cash, "credit", 1_001)])
    assert await balance_of(sessions, funded_account) == 1_000


async def test_a_frozen_account_takes_no_lines_whatever_sql_is_sent(sessions: Sessions) -> None:
    customer_id = uuid.uuid4()
    async with sessions.begin() as session:
        account = await open_deposit_account(session, customer_id, CustomerType.BANK)
        await freeze_deposit_account(session, customer_id)
    cash = await settlement_id(sessions)
    with pytest.raises(DBAPIError, match="is frozen"):
        async with sessions.begin() as session:
            await post_by_hand(session, [(cash, "debit", 5), (account.id, "credit", 5)])


@pytest.mark.parametrize("statement", [
    "UPDATE journal_lines SET amount_cents = amount_cents + 1 WHERE account_id = :account",
    "DELETE FROM journal_lines WHERE account_id = :account",
    "UPDATE journal_entries SET description = 'edited' "
    "WHERE id IN (SELECT entry_id FROM journal_lines WHERE account_id = :account)",
    "DELETE FROM journal_entries WHERE id IN (SELECT entry_id FROM journal_lines WHERE account_id = :account)",
    "TRUNCATE journal_lines, journal_entries",
], ids=["update line", "delete line", "update entry", "delete entry", "truncate"])
async def test_the_journal_is_append_only(sessions: Sessions, funded_account: uuid.UUID, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        async with sessions.begin() as session:
            await session.execute(text(statement), {"account": funded_account} if ":account" in statement else {})
    assert await scalar(sessions, "SELECT sum(amount_cents) FROM journal_lines WHERE account_id = :account",
                        account=funded_account) == 1_000


async def test_a_balance_cannot_be_set_directly(sessions: Sessions, funded_account: uuid.UUID) -> None:
    with pytest.raises(DBAPIError, match="only by posting"):
        async with sessions.begin() as session:
            await session.execute(text("UPDATE ledger_accounts SET balance_cents = 1000000 WHERE id = :id"),
                                  {"id": funded_account})
    with pytest.raises(DBAPIError, match="opens with a zero balance"):
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO ledger_accounts (code, name, normal_balance, balance_cents) "
                                       "VALUES (:code, 'forged', 'credit', 500)"), {"code": f"forged-{uuid.uuid4()}"})
    assert await balance_of(sessions, funded_account) == 1_000


async def test_a_second_deposit_account_for_one_customer_is_refused_by_the_database(
        sessions: Sessions) -> None:
    customer_id = uuid.uuid4()
    async with sessions.begin() as session:
        await open_deposit_account(session, customer_id, CustomerType.INDIVIDUAL)
    with pytest.raises(DBAPIError, match="uq_ledger_accounts_external_id"):
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO ledger_accounts (code, name, normal_balance, external_id) "
                                       "VALUES (:code, 'second', 'credit', :customer)"),
                                  {"code": f"second-{customer_id}", "customer": str(customer_id)})


async def test_the_books_balance_and_every_balance_is_the_sum_of_its_lines(sessions: Sessions,
                                                                           funded_account: uuid.UUID) -> None:
    async with sessions() as session:
        totals = await ledger_totals(session)
        drifted = (await session.execute(text("""
            SELECT a.code, a.balance_cents,
                   coalesce(sum(CASE WHEN l.side = a.normal_balance THEN l.amount_cents ELSE -l.amount_cents END), 0)
              FROM ledger_accounts a LEFT JOIN journal_lines l ON l.account_id = a.id
             GROUP BY a.id HAVING a.balance_cents <> coalesce(
                   sum(CASE WHEN l.side = a.normal_balance THEN l.amount_cents ELSE -l.amount_cents END), 0)
        """))).all()
        # cash (an asset, debit-normal) equals what is owed to depositors (liabilities, credit-normal)
        assets, liabilities = (await session.execute(text("""
            SELECT coalesce(sum(balance_cents) FILTER (WHERE normal_balance = 'debit'), 0),
                   coalesce(sum(balance_cents) FILTER (WHERE normal_balance = 'credit'), 0)
              FROM ledger_accounts
        """))).one()
    assert totals.debits_cents > 0
    assert totals.balanced, totals
    assert drifted == []
    assert assets == liabilities

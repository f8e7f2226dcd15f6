"""The ledger's tables. Migration 0003 creates them, with the triggers that keep the books:
balances follow the lines posted, entries balance at commit, the journal is append-only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from service.db.models import Base

__all__ = ["JournalEntryRecord", "JournalLineRecord", "LedgerAccountRecord", "LedgerAccountSetRecord"]

_NEW_UUID = text("gen_random_uuid()")


class LedgerAccountSetRecord(Base):
    """A named group of accounts (the deposit accounts of one customer type), under an optional parent."""

    __tablename__ = "ledger_account_sets"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_NEW_UUID)
    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("ledger_account_sets.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class LedgerAccountRecord(Base):
    """An account. ``balance_cents`` is written only by the posting trigger, in the account's
    normal-balance terms (credits minus debits for a credit-normal account)."""

    __tablename__ = "ledger_accounts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_NEW_UUID)
    code: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    # for a deposit account, the customer's id: one deposit account per customer
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    account_set_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("ledger_account_sets.id"),
                                                             index=True)
    normal_balance: Mapped[str] = mapped_column(String(6), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, server_default="USD")
    status: Mapped[str] = mapped_column(String(8), nullable=False, server_default="active")
    overdraft_prevented: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    balance_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("normal_balance IN ('debit', 'credit')", name="normal_balance"),
        CheckConstraint("currency = 'USD'", name="currency"),
        CheckConstraint("status IN ('active', 'frozen')", name="status"),
        CheckConstraint("NOT overdraft_prevented OR balance_cents >= 0", name="no_overdraft"),
    )


class JournalEntryRecord(Base):
    """One business event in the books; its lines say which accounts it moved."""

    __tablename__ = "journal_entries"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, server_default=_NEW_UUID)
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)

    __table_args__ = (CheckConstraint("kind IN ('deposit', 'withdrawal')", name="kind"),)


class JournalLineRecord(Base):
    __tablename__ = "journal_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("journal_entries.id"),
                                                nullable=False)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("ledger_accounts.id"),
                                                  nullable=False)
    side: Mapped[str] = mapped_column(String(6), nullable=False)
    amount_cents: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # set by the posting trigger, whatever the insert says
    balance_after_cents: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=FetchedValue())

    __table_args__ = (
        CheckConstraint("side IN ('debit', 'credit')", name="side"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index("ix_journal_lines_account_id_id", "account_id", "id"),
        Index("ix_journal_lines_entry_id", "entry_id"),
    )

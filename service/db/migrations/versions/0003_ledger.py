"""double-entry ledger with USD deposit accounts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

The ledger's invariants live in the database, so that no code path, present or future, can break
them: every journal entry balances (checked at commit), balances follow the lines posted (a
trigger, under the account's row lock), an overdraft-prevented account never goes below zero (a
CHECK), a frozen account takes no new lines, and lines and entries are never rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OMNIBUS_SET = "deposit-omnibus-account-set"
# One set per customer type, every type of the customers table's CHECK. Written out rather than
# imported: a migration must keep meaning what it meant when it was applied.
DEPOSIT_SETS = {
    "deposit-individual-account-set": "Deposit accounts of individuals",
    "deposit-government-entity-account-set": "Deposit accounts of government entities",
    "deposit-private-company-account-set": "Deposit accounts of private companies",
    "deposit-bank-account-set": "Deposit accounts of banks",
    "deposit-financial-institution-account-set": "Deposit accounts of financial institutions",
    "deposit-foreign-agency-or-subsidiary-account-set": "Deposit accounts of foreign agencies or subsidiaries",
    "deposit-non-domiciled-company-account-set": "Deposit accounts of non-domiciled companies",
}
SETTLEMENT_ACCOUNT_CODE = "bank-settlement-usd"


def upgrade() -> None:
    op.create_table(
        "ledger_account_sets",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["ledger_account_sets.id"],
                                name=op.f("fk_ledger_account_sets_parent_id_ledger_account_sets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account_sets")),
        sa.UniqueConstraint("name", name=op.f("uq_ledger_account_sets_name")),
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("account_set_id", sa.UUID(), nullable=True),
        sa.Column("normal_balance", sa.String(length=6), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("status", sa.String(length=8), server_default="active", nullable=False),
        sa.Column("overdraft_prevented", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("normal_balance IN ('debit', 'credit')", name=op.f("ck_ledger_accounts_normal_balance")),
        sa.CheckConstraint("currency = 'USD'", name=op.f("ck_ledger_accounts_currency")),
        sa.CheckConstraint("status IN ('active', 'frozen')", name=op.f("ck_ledger_accounts_status")),
        sa.CheckConstraint("NOT overdraft_prevented OR balance_cents >= 0",
                           name=op.f("ck_ledger_accounts_no_overdraft")),
        sa.ForeignKeyConstraint(["account_set_id"], ["ledger_account_sets.id"],
                                name=op.f("fk_ledger_accounts_account_set_id_ledger_account_sets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
        sa.UniqueConstraint("external_id", name=op.f("uq_ledger_accounts_external_id")),
    )
    op.create_index("ix_ledger_accounts_account_set_id", "ledger_accounts", ["account_set_id"], unique=False)
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.CheckConstraint("kind IN ('deposit', 'withdrawal')", name=op.f("ck_journal_entries_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entries_idempotency_key")),
    )
    op.create_table(
        "journal_lines",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("side", sa.String(length=6), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("side IN ('debit', 'credit')", name=op.f("ck_journal_lines_side")),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_journal_lines_amount_positive")),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"],
                                name=op.f("fk_journal_lines_entry_id_journal_entries")),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"],
                                name=op.f("fk_journal_lines_account_id_ledger_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    op.create_index("ix_journal_lines_account_id_id", "journal_lines", ["account_id", "id"], unique=False)
    op.create_index("ix_journal_lines_entry_id", "journal_lines", ["entry_id"], unique=False)

    # Posting a line: lock its account, refuse it when frozen, move the balance. The row lock is
    # held to commit, so concurrent postings to one account queue up and each sees the balance the
    # previous one left; the no-overdraft CHECK on that UPDATE is what refuses an overdraft.
    # The balance after the line is kept on the line, for statements.
    op.execute("""
        CREATE FUNCTION ledger_post_line() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            account ledger_accounts%ROWTYPE;
        BEGIN
            SELECT * INTO account FROM ledger_accounts WHERE id = NEW.account_id FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'no ledger account %', NEW.account_id
                    USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_journal_lines_account_id_ledger_accounts';
            END IF;
            IF account.status = 'frozen' THEN
                RAISE EXCEPTION 'ledger account % is frozen', NEW.account_id
                    USING ERRCODE = 'object_not_in_prerequisite_state', CONSTRAINT = 'ledger_account_frozen';
            END IF;
            UPDATE ledger_accounts
               SET balance_cents = balance_cents
                   + CASE WHEN NEW.side = account.normal_balance THEN NEW.amount_cents ELSE -NEW.amount_cents END
             WHERE id = NEW.account_id
            RETURNING balance_cents INTO NEW.balance_after_cents;
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER journal_lines_post BEFORE INSERT ON journal_lines
        FOR EACH ROW EXECUTE FUNCTION ledger_post_line()
    """)

    # A balance is the sum of its account's lines and nothing else: it opens at zero, and only the
    # posting trigger (which runs one trigger level down) may move it.
    op.execute("""
        CREATE FUNCTION ledger_balance_moves_only_by_posting() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' AND NEW.balance_cents <> 0 THEN
                RAISE EXCEPTION 'a ledger account opens with a zero balance'
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_account_opens_at_zero';
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.balance_cents IS DISTINCT FROM OLD.balance_cents
                    AND pg_trigger_depth() < 2 THEN
                RAISE EXCEPTION 'balance_cents changes only by posting journal lines'
                    USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'ledger_balance_by_posting_only';
            END IF;
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER ledger_accounts_balance_guard BEFORE INSERT OR UPDATE ON ledger_accounts
        FOR EACH ROW EXECUTE FUNCTION ledger_balance_moves_only_by_posting()
    """)

    # Double entry: at commit, every entry that gained lines has debits equal to credits, and
    # every entry has lines. Deferred, because an entry's lines arrive one by one.
    op.execute("""
        CREATE FUNCTION journal_entry_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            debits numeric;
            credits numeric;
        BEGIN
            SELECT coalesce(sum(amount_cents) FILTER (WHERE side = 'debit'), 0),
                   coalesce(sum(amount_cents) FILTER (WHERE side = 'credit'), 0)
              INTO debits, credits
              FROM journal_lines WHERE entry_id = NEW.entry_id;
            IF debits <> credits THEN
                RAISE EXCEPTION 'journal entry % is unbalanced: debits % <> credits %', NEW.entry_id, debits, credits
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER journal_lines_entry_balanced AFTER INSERT ON journal_lines
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION journal_entry_must_balance()
    """)
    op.execute("""
        CREATE FUNCTION journal_entry_must_have_lines() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM journal_lines WHERE entry_id = NEW.id) THEN
                RAISE EXCEPTION 'journal entry % has no lines', NEW.id
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_has_lines';
            END IF;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE CONSTRAINT TRIGGER journal_entries_have_lines AFTER INSERT ON journal_entries
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION journal_entry_must_have_lines()
    """)

    # The journal is the record: a mistake is corrected by a new entry, never by an edit.
    op.execute("""
        CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
    """)
    for table in ("journal_entries", "journal_lines"):
        op.execute(f"""
            CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only()
        """)

    op.execute(sa.text(
        "INSERT INTO ledger_account_sets (name, description) VALUES (:name, 'Every customer deposit account')"
    ).bindparams(name=OMNIBUS_SET))
    for name, description in DEPOSIT_SETS.items():
        op.execute(sa.text(
            "INSERT INTO ledger_account_sets (name, description, parent_id) "
            "SELECT :name, :description, id FROM ledger_account_sets WHERE name = :omnibus"
        ).bindparams(name=name, description=description, omnibus=OMNIBUS_SET))
    # The bank's side of every deposit and withdrawal: cash, an asset, so normal on the debit side.
    op.execute(sa.text(
        "INSERT INTO ledger_accounts (code, name, normal_balance) "
        "VALUES (:code, 'Bank settlement (cash), USD', 'debit')"
    ).bindparams(code=SETTLEMENT_ACCOUNT_CODE))


def downgrade() -> None:
    for table in ("journal_entries", "journal_lines"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.drop_index("ix_journal_lines_entry_id", table_name="journal_lines")
    op.drop_index("ix_journal_lines_account_id_id", table_name="journal_lines")
    op.drop_table("journal_lines")
    op.drop_table("journal_entries")
    op.drop_index("ix_ledger_accounts_account_set_id", table_name="ledger_accounts")
    op.drop_table("ledger_accounts")
    op.drop_table("ledger_account_sets")
    for function in ("journal_is_append_only", "journal_entry_must_have_lines", "journal_entry_must_balance",
                     "ledger_balance_moves_only_by_posting", "ledger_post_line"):
        op.execute(f"DROP FUNCTION {function}()")

"""one spelling per Telegram account: numeric ids without leading zeros, usernames lower-case without @

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rewrite stored ids to the canonical form. Where two rows name one account, the older keeps it and
    # the newer keeps its old spelling (the uniqueness it was created under); nothing is dropped.
    op.execute("""
        UPDATE customers AS c SET telegram_id = x.canonical
        FROM (SELECT DISTINCT ON (canonical) id, canonical
              FROM (SELECT id, created_at, CASE WHEN telegram_id ~ '^[0-9]+$'
                                                THEN COALESCE(NULLIF(ltrim(telegram_id, '0'), ''), '0')
                                                ELSE lower(ltrim(telegram_id, '@')) END AS canonical FROM customers
                    WHERE telegram_id IS NOT NULL) AS spelled
              ORDER BY canonical, created_at, id) AS x
        WHERE c.id = x.id AND c.telegram_id <> x.canonical
          AND NOT EXISTS (SELECT 1 FROM customers AS o WHERE o.telegram_id = x.canonical)
    """)


def downgrade() -> None:
    pass  # the canonical spelling is a valid spelling: nothing to undo

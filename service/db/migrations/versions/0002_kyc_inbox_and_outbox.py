"""kyc inbox and outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_callbacks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("external_user_id", sa.String(length=128), nullable=True),
        sa.Column("applicant_id", sa.String(length=64), nullable=True),
        sa.Column("event_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="received", nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'processed', 'ignored', 'orphan', 'failed')", name=op.f("ck_kyc_callbacks_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_callbacks")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_kyc_callbacks_idempotency_key")),
    )
    op.create_index(
        "ix_kyc_callbacks_external_user_id_status", "kyc_callbacks", ["external_user_id", "status"], unique=False
    )
    op.create_index("ix_kyc_callbacks_status_received_at", "kyc_callbacks", ["status", "received_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_customer_id", "outbox", ["customer_id", "id"], unique=False)
    op.create_index(
        "ix_outbox_unrelayed", "outbox", ["id"], unique=False, postgresql_where=sa.text("relayed_at IS NULL")
    )
    op.add_column("customers", sa.Column("kyc_started_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("customers", sa.Column("kyc_reviewed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("customers", sa.Column("kyc_reject_type", sa.String(length=8), nullable=True))
    op.add_column(
        "customers", sa.Column("kyc_reject_labels", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False)
    )
    op.add_column("customers", sa.Column("kyc_moderation_comment", sa.Text(), nullable=True))
    op.add_column("customers", sa.Column("kyc_client_comment", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "kyc_client_comment")
    op.drop_column("customers", "kyc_moderation_comment")
    op.drop_column("customers", "kyc_reject_labels")
    op.drop_column("customers", "kyc_reject_type")
    op.drop_column("customers", "kyc_reviewed_at")
    op.drop_column("customers", "kyc_started_at")
    op.drop_index("ix_outbox_unrelayed", table_name="outbox", postgresql_where=sa.text("relayed_at IS NULL"))
    op.drop_index("ix_outbox_customer_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_kyc_callbacks_status_received_at", table_name="kyc_callbacks")
    op.drop_index("ix_kyc_callbacks_external_user_id_status", table_name="kyc_callbacks")
    op.drop_table("kyc_callbacks")

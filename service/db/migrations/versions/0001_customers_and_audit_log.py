"""customers and audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint("decision IN ('allowed', 'denied')", name=op.f("ck_audit_log_decision")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_subject_at", "audit_log", ["subject", "at"], unique=False)
    # The audit log is evidence: the database itself refuses to rewrite or remove it.
    op.execute("""
        CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$
    """)
    op.execute("""
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only()
    """)

    op.execute("CREATE SEQUENCE customer_public_id_seq START WITH 1000")
    op.create_table(
        "customers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "public_id",
            sa.String(length=16),
            server_default=sa.text("'C' || nextval('customer_public_id_seq')"),
            nullable=False,
        ),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("telegram_id", sa.String(length=64), nullable=True),
        sa.Column("customer_type", sa.String(length=40), nullable=False),
        sa.Column("kyc_status", sa.String(length=20), nullable=False),
        sa.Column("verification_status", sa.String(length=24), nullable=False),
        sa.Column("kyc_level", sa.String(length=16), nullable=False),
        sa.Column("activity_status", sa.String(length=16), nullable=False),
        sa.Column("applicant_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "activity_status IN ('inactive', 'active', 'suspended')", name=op.f("ck_customers_activity_status")
        ),
        sa.CheckConstraint(
            "customer_type IN ('individual', 'government_entity', 'private_company', 'bank', "
            "'financial_institution', 'foreign_agency_or_subsidiary', 'non_domiciled_company')",
            name=op.f("ck_customers_customer_type"),
        ),
        sa.CheckConstraint("kyc_level IN ('not_kyced', 'basic')", name=op.f("ck_customers_kyc_level")),
        sa.CheckConstraint(
            "kyc_status IN ('not_started', 'pending', 'approved', 'rejected', 'review_needed')",
            name=op.f("ck_customers_kyc_status"),
        ),
        sa.CheckConstraint(
            "verification_status IN ('pending_verification', 'verified', 'rejected')",
            name=op.f("ck_customers_verification_status"),
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_customers_email_lower")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("applicant_id", name=op.f("uq_customers_applicant_id")),
        sa.UniqueConstraint("email", name=op.f("uq_customers_email")),
        sa.UniqueConstraint("public_id", name=op.f("uq_customers_public_id")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_customers_telegram_id")),
    )
    op.create_index("ix_customers_created_at_id", "customers", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_customers_created_at_id", table_name="customers")
    op.drop_table("customers")
    op.execute("DROP SEQUENCE customer_public_id_seq")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.drop_table("audit_log")
    op.execute("DROP FUNCTION audit_log_is_append_only()")

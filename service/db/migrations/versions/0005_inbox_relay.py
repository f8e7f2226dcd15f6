"""the inbox is relayed to the queue like the outbox: queued_at and a wake-up notification

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("kyc_callbacks", sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
    # rows stored before this migration were enqueued by the request that stored them
    op.execute("UPDATE kyc_callbacks SET queued_at = received_at")
    op.create_index("ix_kyc_callbacks_unqueued", "kyc_callbacks", ["id"], unique=False,
                    postgresql_where=sa.text("queued_at IS NULL"))
    # processing looks a customer's callbacks up by applicant id as well as by our id
    op.create_index("ix_kyc_callbacks_applicant_id_status", "kyc_callbacks", ["applicant_id", "status"])
    op.execute("""
        CREATE FUNCTION kyc_callback_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('kyc_callback_received', '');
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER kyc_callback_received AFTER INSERT ON kyc_callbacks
        FOR EACH STATEMENT EXECUTE FUNCTION kyc_callback_notify()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER kyc_callback_received ON kyc_callbacks")
    op.execute("DROP FUNCTION kyc_callback_notify()")
    op.drop_index("ix_kyc_callbacks_applicant_id_status", table_name="kyc_callbacks")
    op.drop_index("ix_kyc_callbacks_unqueued", table_name="kyc_callbacks",
                  postgresql_where=sa.text("queued_at IS NULL"))
    op.drop_column("kyc_callbacks", "queued_at")

"""provisioning steps, outbox handling and its wake-up notification

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "provisioning_steps",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_ref", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name=op.f("ck_provisioning_steps_status")),
        sa.CheckConstraint(
            "step IN ('keycloak_user', 'welcome_email', 'deposit_account', 'keycloak_disabled', 'deposit_frozen')",
            name=op.f("ck_provisioning_steps_step"),
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_provisioning_steps_customer_id_customers")),
        sa.PrimaryKeyConstraint("customer_id", "step", name="pk_provisioning_steps"),
    )
    # The relay LISTENs on this channel: a committed outbox write wakes it at once.
    op.execute("""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('outbox_written', '');
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER outbox_written AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_written ON outbox")
    op.execute("DROP FUNCTION outbox_notify()")
    op.drop_table("provisioning_steps")
    op.drop_column("outbox", "handled_at")

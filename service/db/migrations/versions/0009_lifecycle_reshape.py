"""a customer's Keycloak user id of its own; provisioning steps can be skipped, and are claimed while run

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.add_column("customers", sa.Column("keycloak_user_id", sa.String(length=64), nullable=True))
    op.create_unique_constraint(op.f("uq_customers_keycloak_user_id"), "customers", ["keycloak_user_id"])
    op.add_column("provisioning_steps", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_provisioning_steps_status"), "provisioning_steps", type_="check")
    op.create_check_constraint(op.f("ck_provisioning_steps_status"), "provisioning_steps",
                               "status IN ('pending', 'done', 'failed', 'skipped')")
    # the login was found through the Keycloak step's external_ref; a marker there meant "skipped"
    op.execute("""
        UPDATE customers c SET keycloak_user_id = s.external_ref
        FROM provisioning_steps s
        WHERE s.customer_id = c.id AND s.step = 'keycloak_user' AND s.status = 'done'
          AND s.external_ref IS NOT NULL AND s.external_ref <> 'skipped: customer suspended'
    """)
    op.execute("""
        UPDATE provisioning_steps SET status = 'skipped', external_ref = NULL
        WHERE external_ref = 'skipped: customer suspended'
    """)


def downgrade() -> None:
    op.execute("""
        UPDATE provisioning_steps SET status = 'done', external_ref = 'skipped: customer suspended'
        WHERE status = 'skipped'
    """)
    op.drop_constraint(op.f("ck_provisioning_steps_status"), "provisioning_steps", type_="check")
    op.create_check_constraint(op.f("ck_provisioning_steps_status"), "provisioning_steps",
                               "status IN ('pending', 'done', 'failed')")
    op.drop_column("provisioning_steps", "claimed_until")
    op.drop_constraint(op.f("uq_customers_keycloak_user_id"), "customers", type_="unique")
    op.drop_column("customers", "keycloak_user_id")

"""admin panel sessions, kept server-side: a keyed digest of the cookie, never the cookie itself

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        # HMAC-SHA256 of the cookie's value under ADMIN_SESSION_SECRET: a copy of this table opens no session
        sa.Column("id_digest", sa.LargeBinary(32), primary_key=True),
        # NULL while the sign-in is under way (between the redirect to Keycloak and its answer)
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        # Keycloak's session id (the token's ``sid``): not a credential, it says which session ended
        sa.Column("keycloak_session_id", sa.Text(), nullable=True),
        # where to go once signed in
        sa.Column("next_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_admin_sessions_expires_at", "admin_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("admin_sessions")

"""the inbox's idempotency key is bounded; its readable parts get columns of their own

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("kyc_callbacks", sa.Column("correlation_id", sa.String(length=128), nullable=True))
    op.add_column("kyc_callbacks", sa.Column("created_at_ms", sa.String(length=64), nullable=True))
    op.execute("""
        UPDATE kyc_callbacks SET
            correlation_id = left(payload ->> 'correlationId', 128),
            created_at_ms = left(payload ->> 'createdAtMs', 64)
    """)
    # a key longer than the bound becomes the digest service.kyc.domain.idempotency_key gives it,
    # so a redelivery of such a callback is still recognised as a duplicate
    op.execute("""
        UPDATE kyc_callbacks
        SET idempotency_key = 'key-sha256:' || encode(sha256(convert_to(idempotency_key, 'UTF8')), 'hex')
        WHERE length(idempotency_key) > 200
    """)
    op.alter_column("kyc_callbacks", "idempotency_key", type_=sa.String(length=200), existing_type=sa.Text(),
                    existing_nullable=False)


def downgrade() -> None:
    op.alter_column("kyc_callbacks", "idempotency_key", type_=sa.Text(), existing_type=sa.String(length=200),
                    existing_nullable=False)
    op.drop_column("kyc_callbacks", "created_at_ms")
    op.drop_column("kyc_callbacks", "correlation_id")

"""`Idempotency-Key` on create requests that cannot tell a retry by its content (a credit application,
a loan offer, a hardship request): one table for all of them, a key per caller naming the request it
first came with and the record that request made (backend/idempotency_keys.py), kept a day.

Revision ID: 0046_idempotency_keys
Revises: 0045_erasure_requests
"""

import sqlalchemy as sa
from alembic import op

revision = "0046_idempotency_keys"
down_revision = "0045_erasure_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=42), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")

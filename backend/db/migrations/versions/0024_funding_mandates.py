"""Funding mandates: investors' signed standing orders the platform's keeper funds loans with

Revision ID: 0024_funding_mandates
Revises: 0023_notice_preferences
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_funding_mandates"
down_revision = "0023_notice_preferences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funding_mandates",
        sa.Column("mandate_hash", sa.String(length=66), nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("loan_book", sa.String(length=42), nullable=False),
        sa.Column("mandate", sa.JSON(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mandate_hash", name="pk_funding_mandates"),
    )
    op.create_index("ix_funding_mandates_wallet", "funding_mandates", ["wallet"])
    op.create_index("ix_funding_mandates_status", "funding_mandates", ["status"])


def downgrade() -> None:
    op.drop_index("ix_funding_mandates_status", table_name="funding_mandates")
    op.drop_index("ix_funding_mandates_wallet", table_name="funding_mandates")
    op.drop_table("funding_mandates")

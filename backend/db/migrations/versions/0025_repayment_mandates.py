"""Repayment mandates: payers' signed autopay orders the platform's keeper pays installments with

Revision ID: 0025_repayment_mandates
Revises: 0024_funding_mandates
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_repayment_mandates"
down_revision = "0024_funding_mandates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "repayment_mandates",
        sa.Column("mandate_hash", sa.String(length=66), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("payer", sa.String(length=42), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=42), nullable=False),
        sa.Column("mandate", sa.JSON(), nullable=False),
        sa.Column("expiry", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("mandate_hash", name="pk_repayment_mandates"),
    )
    for column in ("loan_id", "payer", "status"):
        op.create_index(f"ix_repayment_mandates_{column}", "repayment_mandates", [column])


def downgrade() -> None:
    for column in ("status", "payer", "loan_id"):
        op.drop_index(f"ix_repayment_mandates_{column}", table_name="repayment_mandates")
    op.drop_table("repayment_mandates")

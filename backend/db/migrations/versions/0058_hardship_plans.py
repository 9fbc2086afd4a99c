"""Hardship plans: reduced payments over a few periods, agreed by two staff, during which reminders and
the platform's own default wait while the chain shows the plan kept (backend/servicing/plans.py).

Revision ID: 0058_hardship_plans
Revises: 0057_notice_message_text
"""

import sqlalchemy as sa
from alembic import op

revision = "0058_hardship_plans"
down_revision = "0057_notice_message_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hardship_plans",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("installment_amount", sa.String(length=80), nullable=False),  # Uint: a decimal string
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.Column("periods", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(length=42), nullable=False),
        sa.Column("proposed_at", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=True),
        sa.Column("decided_by", sa.String(length=42), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hardship_plans_loan_id", "hardship_plans", ["loan_id"])


def downgrade() -> None:
    op.drop_index("ix_hardship_plans_loan_id", table_name="hardship_plans")
    op.drop_table("hardship_plans")

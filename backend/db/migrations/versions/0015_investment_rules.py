"""investment_rules: investors' standing instructions (which new loans to be told of, and how much
to fund in each)

Revision ID: 0015_investment_rules
Revises: 0014_notice_sms
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_investment_rules"
down_revision = "0014_notice_sms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "investment_rules",
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("per_loan", sa.String(80), nullable=False),  # Uint: a decimal string, exact on both databases
        sa.Column("grades", sa.JSON(), nullable=True),
        sa.Column("min_apr_bps", sa.Integer(), nullable=True),
        sa.Column("max_installments", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name="pk_investment_rules"),
    )


def downgrade() -> None:
    op.drop_table("investment_rules")

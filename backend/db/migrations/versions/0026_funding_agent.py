"""Funding mandates are signed for the FundingAgent, not LoanBook: the verifying contract's column
is `agent` (as for repayment mandates), and mandates signed for LoanBook's domain end

Revision ID: 0026_funding_agent
Revises: 0025_repayment_mandates
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_funding_agent"
down_revision = "0025_repayment_mandates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("funding_mandates") as batch:
        batch.alter_column("loan_book", new_column_name="agent", existing_type=sa.String(length=42),
                           existing_nullable=False)  # fmt: skip
    # A mandate signed for LoanBook's EIP-712 domain is one no contract takes any more: the keeper
    # must not try it, and its investor signs a new one for the agent.
    op.execute(sa.text("UPDATE funding_mandates SET status = 'cancelled', cancelled_at = CURRENT_TIMESTAMP "
                       "WHERE status = 'active'"))  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("funding_mandates") as batch:
        batch.alter_column("agent", new_column_name="loan_book", existing_type=sa.String(length=42),
                           existing_nullable=False)  # fmt: skip

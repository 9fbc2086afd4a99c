"""A loan's repayments in chain order: monitoring finds, for each note transfer and trade, the loan's
last repayment before it (the principal outstanding the notes stood for) through this index, instead
of reading every repayment of every loan whose notes moved (backend/audit/monitoring.py `Outstanding`).

Revision ID: 0048_repayments_by_position
Revises: 0047_kyc_contact_indexes
"""

from alembic import op

revision = "0048_repayments_by_position"
down_revision = "0047_kyc_contact_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chain_repayments_loan_position", "chain_repayments", ["loan_id", "block_number", "log_index"])


def downgrade() -> None:
    op.drop_index("ix_chain_repayments_loan_position", table_name="chain_repayments")

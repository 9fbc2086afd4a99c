"""Each indexer range reads the disbursals of the follow window before it (the loan token's transfers
are kept for TOKEN_FOLLOW_DAYS after a disbursal, no longer from the first one on for good): by time.

Revision ID: 0055_disbursal_start_time_index
Revises: 0054_erased_document_contents
"""

from alembic import op

revision = "0055_disbursal_start_time_index"
down_revision = "0054_erased_document_contents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chain_disbursals_start_time", "chain_disbursals", ["start_time"])


def downgrade() -> None:
    op.drop_index("ix_chain_disbursals_start_time", "chain_disbursals")

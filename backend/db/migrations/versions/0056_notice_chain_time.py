"""A borrower notice records the chain time of the pass that gave it: the platform's own default waits
`servicing_cure_days` after the first written warning of the late installment, judged by chain time as
LoanBook judges lateness (notices given before keep NULL and are dated by their `created_at`).

Revision ID: 0056_notice_chain_time
Revises: 0055_disbursal_start_time_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0056_notice_chain_time"
down_revision = "0055_disbursal_start_time_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.add_column(sa.Column("chain_time", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.drop_column("chain_time")

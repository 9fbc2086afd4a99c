"""Credit decisions record when their application was erased (its inputs cleared with the
applicant's personal data: the decision can no longer be proven, and says why)

Revision ID: 0035_erased_decisions
Revises: 0034_installments_settled
"""

import sqlalchemy as sa
from alembic import op

revision = "0035_erased_decisions"
down_revision = "0034_installments_settled"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:
        batch.drop_column("erased_at")

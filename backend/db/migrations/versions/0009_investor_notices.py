"""notices to investors: a recipient per notice, once per (loan, installment, kind, recipient)

Revision ID: 0009_investor_notices
Revises: 0008_notice_delivery
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_investor_notices"
down_revision = "0008_notice_delivery"
branch_labels = None
depends_on = None

OLD_KEY = ("loan_id", "installment", "kind")


def upgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.add_column(sa.Column("recipient", sa.String(42), nullable=True))
    op.execute("UPDATE servicing_notices SET recipient = borrower")  # every notice so far went to the borrower
    with op.batch_alter_table("servicing_notices") as batch:
        batch.alter_column("recipient", existing_type=sa.String(42), nullable=False)
        batch.drop_constraint("uq_servicing_notices_once", type_="unique")
        batch.create_unique_constraint("uq_servicing_notices_once", [*OLD_KEY, "recipient"])
        batch.create_index("ix_servicing_notices_recipient", ["recipient"])


def downgrade() -> None:
    op.execute("DELETE FROM servicing_notices WHERE recipient <> borrower")  # the old key cannot hold them
    with op.batch_alter_table("servicing_notices") as batch:
        batch.drop_index("ix_servicing_notices_recipient")
        batch.drop_constraint("uq_servicing_notices_once", type_="unique")
        batch.create_unique_constraint("uq_servicing_notices_once", list(OLD_KEY))
        batch.drop_column("recipient")

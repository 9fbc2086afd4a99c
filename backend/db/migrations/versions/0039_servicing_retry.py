"""Notice delivery retried by the clock, not by the round: each channel keeps when its next attempt
may be made (unix seconds, wall clock; NULL: now). A failure sets it by an exponential backoff over
about three days, and taking a notice to send sets it a lease ahead first (a compare-and-set), so
two deliveries at once never send the same notice twice (review-servicing H2, H3).

Revision ID: 0039_servicing_retry
Revises: 0038_notices_audited
"""

import sqlalchemy as sa
from alembic import op

revision = "0039_servicing_retry"
down_revision = "0038_notices_audited"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.add_column(sa.Column("email_retry_at", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("sms_retry_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.drop_column("sms_retry_at")
        batch.drop_column("email_retry_at")

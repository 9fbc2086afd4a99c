"""e-mail delivery of servicing notices

Revision ID: 0008_notice_delivery
Revises: 0007_servicing
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_notice_delivery"
down_revision = "0007_servicing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.add_column(sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("email_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("email_error", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        for column in ("email_error", "email_attempts", "emailed_at"):
            batch.drop_column(column)

"""servicing_notices: text message (SMS) delivery of borrowers' payment notices

Revision ID: 0014_notice_sms
Revises: 0013_disclosure_reports
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_notice_sms"
down_revision = "0013_disclosure_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.add_column(sa.Column("sms_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sms_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sms_error", sa.String(500), nullable=True))
        batch.add_column(sa.Column("sms_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        for column in ("sms_id", "sms_error", "sms_attempts", "sms_sent_at"):
            batch.drop_column(column)

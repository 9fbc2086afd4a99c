"""A notice's message is TEXT, no longer VARCHAR(500): one worded past 500 characters failed its insert
on PostgreSQL, and with it the whole servicing pass, at every pass after (SQLite never held the limit).

Revision ID: 0057_notice_message_text
Revises: 0056_notice_chain_time
"""

import sqlalchemy as sa
from alembic import op

revision = "0057_notice_message_text"
down_revision = "0056_notice_chain_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.alter_column("message", type_=sa.Text(), existing_type=sa.String(500), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("servicing_notices") as batch:
        batch.alter_column("message", type_=sa.String(500), existing_type=sa.Text(), existing_nullable=False)

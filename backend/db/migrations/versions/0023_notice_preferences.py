"""Notice preferences: e-mail and text messages per wallet, each on unless turned off

Revision ID: 0023_notice_preferences
Revises: 0022_worker_health
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_notice_preferences"
down_revision = "0022_worker_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_preferences",
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("wallet", name="pk_notice_preferences"),
    )


def downgrade() -> None:
    op.drop_table("notice_preferences")

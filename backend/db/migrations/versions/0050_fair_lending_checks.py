"""Scheduled fair-lending checks: the live approval rates by age band over a trailing window, one a
day, kept so a band below four fifths is seen without anyone asking (backend/scoring/fair_lending_checks.py).

Revision ID: 0050_fair_lending_checks
Revises: 0049_kyc_person_links
"""

import sqlalchemy as sa
from alembic import op

revision = "0050_fair_lending_checks"
down_revision = "0049_kyc_person_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fair_lending_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flagged", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_fair_lending_checks"),
        sa.UniqueConstraint("checked_on", name="uq_fair_lending_checks_checked_on"),
    )


def downgrade() -> None:
    op.drop_table("fair_lending_checks")

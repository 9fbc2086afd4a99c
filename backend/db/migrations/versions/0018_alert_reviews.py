"""Reviews of transaction monitoring alerts (the monitoring case file)

Revision ID: 0018_alert_reviews
Revises: 0017_market_expiry
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_alert_reviews"
down_revision = "0017_market_expiry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_alert_reviews",
        sa.Column("alert_key", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=30), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_key", name="pk_audit_alert_reviews"),
    )
    op.create_index("ix_audit_alert_reviews_loan_id", "audit_alert_reviews", ["loan_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_alert_reviews_loan_id", table_name="audit_alert_reviews")
    op.drop_table("audit_alert_reviews")

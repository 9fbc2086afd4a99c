"""The wallets a reviewed monitoring alert named, so that erasing any of them shreds the review's
note (an investor of a round trip, a collection wallet, the wallets of structured gifts), not only
the alert loan's borrower's or the applicants' (privacy review, 2026-12-01). Reviews made before
are not filled in: which wallets their alerts named then is not recorded anywhere.

Revision ID: 0053_alert_review_wallets
Revises: 0052_note_transfers_of_zero
"""

import sqlalchemy as sa
from alembic import op

revision = "0053_alert_review_wallets"
down_revision = "0052_note_transfers_of_zero"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_alert_review_wallets",
        sa.Column("alert_key", sa.String(64), sa.ForeignKey("audit_alert_reviews.alert_key"), primary_key=True),
        sa.Column("wallet", sa.String(42), primary_key=True),
    )
    op.create_index("ix_audit_alert_review_wallets_wallet", "audit_alert_review_wallets", ["wallet"])


def downgrade() -> None:
    op.drop_index("ix_audit_alert_review_wallets_wallet", "audit_alert_review_wallets")
    op.drop_table("audit_alert_review_wallets")

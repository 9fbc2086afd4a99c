"""Network origins of KYC submissions, as HMACs (several wallets from one address go to review)

Revision ID: 0019_kyc_origins
Revises: 0018_alert_reviews
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_kyc_origins"
down_revision = "0018_alert_reviews"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_origins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("origin_index", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_origins"),
    )
    op.create_index("ix_kyc_origins_wallet", "kyc_origins", ["wallet"])
    op.create_index("ix_kyc_origins_origin_index", "kyc_origins", ["origin_index"])
    op.create_index("ix_kyc_origins_seen_at", "kyc_origins", ["seen_at"])


def downgrade() -> None:
    for column in ("seen_at", "origin_index", "wallet"):
        op.drop_index(f"ix_kyc_origins_{column}", table_name="kyc_origins")
    op.drop_table("kyc_origins")

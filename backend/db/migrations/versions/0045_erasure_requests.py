"""Erasure requests that wait out the AML record-keeping period (AMLD art. 40): a wallet that
borrowed or held notes keeps its KYC data for LOANCHAIN_AML_RETENTION_DAYS after the relationship
ended, and an erasure asked for before then is recorded here and carried out when due.

Revision ID: 0045_erasure_requests
Revises: 0044_alert_review_applicants
"""

import sqlalchemy as sa
from alembic import op

revision = "0045_erasure_requests"
down_revision = "0044_alert_review_applicants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_erasure_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("open_for", sa.String(length=42), nullable=True),
        sa.Column("requested_by", sa.String(length=42), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erase_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erasure", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_erasure_requests"),
        sa.UniqueConstraint("open_for", name="uq_kyc_erasure_requests_open_for"),
    )
    op.create_index("ix_kyc_erasure_requests_wallet", "kyc_erasure_requests", ["wallet"])
    op.create_index("ix_kyc_erasure_requests_status", "kyc_erasure_requests", ["status"])


def downgrade() -> None:
    op.drop_index("ix_kyc_erasure_requests_wallet", table_name="kyc_erasure_requests")
    op.drop_index("ix_kyc_erasure_requests_status", table_name="kyc_erasure_requests")
    op.drop_table("kyc_erasure_requests")

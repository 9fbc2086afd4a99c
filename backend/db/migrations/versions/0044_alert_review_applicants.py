"""A review of an alert about credit applications (`answers_changed`) names the applicants' wallets,
so that its sealed note is shredded when either's personal data is erased, as a loan alert's is
with its borrower's

Revision ID: 0044_alert_review_applicants
Revises: 0043_kyc_documents
"""

import sqlalchemy as sa
from alembic import op

revision = "0044_alert_review_applicants"
down_revision = "0043_kyc_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_alert_reviews") as batch:
        batch.add_column(sa.Column("applicant", sa.String(length=42), nullable=True))
        batch.add_column(sa.Column("other_applicant", sa.String(length=42), nullable=True))
        batch.create_index("ix_audit_alert_reviews_applicant", ["applicant"])
        batch.create_index("ix_audit_alert_reviews_other_applicant", ["other_applicant"])


def downgrade() -> None:
    with op.batch_alter_table("audit_alert_reviews") as batch:
        batch.drop_index("ix_audit_alert_reviews_other_applicant")
        batch.drop_index("ix_audit_alert_reviews_applicant")
        batch.drop_column("other_applicant")
        batch.drop_column("applicant")

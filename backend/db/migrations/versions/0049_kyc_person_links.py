"""Same-person links between KYC records of different national IDs (a passport beside a national ID
sharing a phone or e-mail), proposed by one admin and confirmed by another: a confirmed link joins
the two records' wallets as one borrower for the debt checks (backend/identity/kyc/person_links.py).

Revision ID: 0049_kyc_person_links
Revises: 0048_repayments_by_position
"""

import sqlalchemy as sa
from alembic import op

revision = "0049_kyc_person_links"
down_revision = "0048_repayments_by_position"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_person_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_a", sa.String(length=36), nullable=False),
        sa.Column("record_b", sa.String(length=36), nullable=False),
        sa.Column("proposed_by", sa.String(length=42), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note_sha256", sa.String(length=64), nullable=False),
        sa.Column("confirmed_by", sa.String(length=42), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirm_note_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_person_links"),
        sa.ForeignKeyConstraint(["record_a"], ["kyc_records.id"], name="fk_kyc_person_links_record_a_kyc_records"),
        sa.ForeignKeyConstraint(["record_b"], ["kyc_records.id"], name="fk_kyc_person_links_record_b_kyc_records"),
        sa.UniqueConstraint("record_a", "record_b", name="uq_kyc_person_links_pair"),
    )
    op.create_index("ix_kyc_person_links_record_a", "kyc_person_links", ["record_a"])
    op.create_index("ix_kyc_person_links_record_b", "kyc_person_links", ["record_b"])


def downgrade() -> None:
    op.drop_index("ix_kyc_person_links_record_b", table_name="kyc_person_links")
    op.drop_index("ix_kyc_person_links_record_a", table_name="kyc_person_links")
    op.drop_table("kyc_person_links")

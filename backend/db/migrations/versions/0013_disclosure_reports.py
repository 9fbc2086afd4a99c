"""disclosure_reports: the monthly disclosure figures and loan tape, published as anchored documents

Revision ID: 0013_disclosure_reports
Revises: 0012_note_market
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_disclosure_reports"
down_revision = "0012_note_market"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_reports",
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("cid", sa.String(100), nullable=False),
        sa.Column("doc_hash", sa.String(66), nullable=False),
        sa.Column("as_of_block", sa.BigInteger(), nullable=True),
        sa.Column("loan_tape_cid", sa.String(100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_disclosure_reports_document_id_documents"),
        sa.PrimaryKeyConstraint("period", name="pk_disclosure_reports"),
        sa.UniqueConstraint("document_id", name="uq_disclosure_reports_document_id"),
    )


def downgrade() -> None:
    op.drop_table("disclosure_reports")

"""ID documents are looked at by a person before they count, and reveals keep their reason: an
admin's views of a record's documents (an approval at level 2 needs one of each by the approving
admin), and each reveal with its reason sealed under the record's data key (privacy review H3, L3).

Revision ID: 0043_kyc_documents
Revises: 0042_erased_decision_hashes
"""

import sqlalchemy as sa
from alembic import op

revision = "0043_kyc_documents"
down_revision = "0042_erased_decision_hashes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_document_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("reader", sa.String(length=42), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["kyc_records.id"], name="fk_kyc_document_views_record_id_kyc_records"),
        sa.ForeignKeyConstraint(["document_id"], ["kyc_documents.id"], name="fk_kyc_document_views_document_id_kyc_documents"),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_document_views"),
    )
    op.create_index("ix_kyc_document_views_record_id", "kyc_document_views", ["record_id"])
    op.create_index("ix_kyc_document_views_document_id", "kyc_document_views", ["document_id"])
    op.create_table(
        "kyc_reveals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(length=36), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("reason_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["kyc_records.id"], name="fk_kyc_reveals_record_id_kyc_records"),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_reveals"),
    )
    op.create_index("ix_kyc_reveals_record_id", "kyc_reveals", ["record_id"])
    op.create_index("ix_kyc_reveals_at", "kyc_reveals", ["at"])


def downgrade() -> None:
    for column in ("at", "record_id"):
        op.drop_index(f"ix_kyc_reveals_{column}", table_name="kyc_reveals")
    op.drop_table("kyc_reveals")
    for column in ("document_id", "record_id"):
        op.drop_index(f"ix_kyc_document_views_{column}", table_name="kyc_document_views")
    op.drop_table("kyc_document_views")

"""documents, anchor batches and audit log (backend-core issue)

Revision ID: 0004_anchoring
Revises: 0003_chain

Written by hand so it runs unchanged on SQLite and PostgreSQL; constraint names follow
`backend.db.base.NAMING_CONVENTION`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_anchoring"
down_revision = "0003_chain"
branch_labels = None
depends_on = None

GENESIS_HASH = "0x" + "00" * 32


def upgrade() -> None:
    op.create_table(
        "anchor_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(66), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("manifest_cid", sa.String(128), nullable=False),
        sa.Column("uri", sa.String(200), nullable=False),
        sa.Column("intent_key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_anchor_batches"),
        sa.UniqueConstraint("root", name="uq_anchor_batches_root"),
        sa.UniqueConstraint("intent_key", name="uq_anchor_batches_intent_key"),
    )
    op.create_index("ix_anchor_batches_status", "anchor_batches", ["status"])

    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_hash", sa.String(66), nullable=False),
        sa.Column("cid", sa.String(128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
        sa.UniqueConstraint("doc_hash", name="uq_documents_doc_hash"),
        sa.ForeignKeyConstraint(["batch_id"], ["anchor_batches.id"], name="fk_documents_batch_id_anchor_batches"),
    )
    op.create_index("ix_documents_cid", "documents", ["cid"])
    op.create_index("ix_documents_batch_id", "documents", ["batch_id"])

    op.create_table(
        "anchor_proofs",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("leaf", sa.String(66), nullable=False),
        sa.Column("tree_index", sa.Integer(), nullable=False),
        sa.Column("proof", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("document_id", name="pk_anchor_proofs"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_anchor_proofs_document_id_documents"),
        sa.ForeignKeyConstraint(["batch_id"], ["anchor_batches.id"], name="fk_anchor_proofs_batch_id_anchor_batches"),
    )
    op.create_index("ix_anchor_proofs_batch_id", "anchor_proofs", ["batch_id"])

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("prev_hash", sa.String(66), nullable=False),
        sa.Column("entry_hash", sa.String(66), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload_hash", sa.String(66), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_entries_prev_hash"),
        sa.UniqueConstraint("entry_hash", name="uq_audit_entries_entry_hash"),
    )
    op.create_index("ix_audit_entries_action", "audit_entries", ["action"])
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject"])

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(66), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": GENESIS_HASH}])

    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_hash", sa.String(66), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
        sa.UniqueConstraint("document_id", name="uq_audit_checkpoints_document_id"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_audit_checkpoints_document_id_documents"
        ),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_entries_subject", table_name="audit_entries")
    op.drop_index("ix_audit_entries_action", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_index("ix_anchor_proofs_batch_id", table_name="anchor_proofs")
    op.drop_table("anchor_proofs")
    op.drop_index("ix_documents_batch_id", table_name="documents")
    op.drop_index("ix_documents_cid", table_name="documents")
    op.drop_table("documents")
    op.drop_index("ix_anchor_batches_status", table_name="anchor_batches")
    op.drop_table("anchor_batches")

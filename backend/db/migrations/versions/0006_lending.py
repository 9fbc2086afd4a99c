"""loan offers; credit decisions remember the wallet that asked and an underwriter's review

Revision ID: 0006_lending
Revises: 0005_identity
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_lending"
down_revision = "0005_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:  # batch: SQLite cannot ALTER in place
        batch.add_column(sa.Column("wallet", sa.String(42), nullable=True))
        batch.create_index("ix_credit_decisions_wallet", ["wallet"])
        batch.add_column(sa.Column("review", sa.String(10), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(42), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("review_note", sa.String(500), nullable=True))
    op.create_table(
        "loan_offers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("borrower", sa.String(42), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("quoted_apr_bps", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.Integer(), nullable=False),
        sa.Column("loan_book", sa.String(42), nullable=False),
        sa.Column("asset_decimals", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("terms_hash", sa.String(66), nullable=False),
        sa.Column("agreement_cid", sa.String(100), nullable=False),
        sa.Column("agreement_hash", sa.String(66), nullable=False),
        sa.Column("borrower_signature", sa.Text(), nullable=True),
        sa.Column("underwriter_signature", sa.Text(), nullable=True),
        sa.Column("intent_key", sa.String(200), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_loan_offers"),
        sa.UniqueConstraint("terms_hash", name="uq_loan_offers_terms_hash"),
    )
    for column in ("decision_id", "borrower", "status"):
        op.create_index(f"ix_loan_offers_{column}", "loan_offers", [column])


def downgrade() -> None:
    for column in ("decision_id", "borrower", "status"):
        op.drop_index(f"ix_loan_offers_{column}", table_name="loan_offers")
    op.drop_table("loan_offers")
    with op.batch_alter_table("credit_decisions") as batch:
        for column in ("review_note", "reviewed_at", "reviewed_by", "review"):
            batch.drop_column(column)
        batch.drop_index("ix_credit_decisions_wallet")
        batch.drop_column("wallet")

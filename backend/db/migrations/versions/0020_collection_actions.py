"""The collections case log: contacts, promises to pay, disputes and hardship per late loan

Revision ID: 0020_collection_actions
Revises: 0019_kyc_origins
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_collection_actions"
down_revision = "0019_kyc_origins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("chain_time", sa.BigInteger(), nullable=False),
        sa.Column("promised_amount", sa.String(length=80), nullable=True),  # Uint: a decimal string
        sa.Column("promised_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_collection_actions"),
    )
    op.create_index("ix_collection_actions_loan_id", "collection_actions", ["loan_id"])


def downgrade() -> None:
    op.drop_index("ix_collection_actions_loan_id", table_name="collection_actions")
    op.drop_table("collection_actions")

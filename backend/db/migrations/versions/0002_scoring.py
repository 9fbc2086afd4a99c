"""scoring decisions (credit-scoring issue)

Revision ID: 0002_scoring
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_scoring"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_decisions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(66), nullable=False),
        sa.Column("input_hash", sa.String(66), nullable=False),
        sa.Column("decision_hash", sa.String(66), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("apr_bps", sa.Integer(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credit_decisions"),
    )
    for column in ("model_version", "input_hash", "decision_hash"):
        op.create_index(f"ix_credit_decisions_{column}", "credit_decisions", [column])


def downgrade() -> None:
    for column in ("model_version", "input_hash", "decision_hash"):
        op.drop_index(f"ix_credit_decisions_{column}", table_name="credit_decisions")
    op.drop_table("credit_decisions")

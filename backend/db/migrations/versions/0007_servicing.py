"""servicing positions and borrower notices (post-loan management)

Revision ID: 0007_servicing
Revises: 0006_lending
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_servicing"
down_revision = "0006_lending"
branch_labels = None
depends_on = None

UINT = sa.String(80)  # backend.chain.models.Uint: a uint256 as a decimal string


def upgrade() -> None:
    op.create_table(
        "servicing_states",
        sa.Column("loan_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("borrower", sa.String(42), nullable=False),
        sa.Column("bucket", sa.String(20), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("installments_paid", sa.Integer(), nullable=False),
        sa.Column("due_now", UINT, nullable=False),
        sa.Column("payoff", UINT, nullable=False),
        sa.Column("next_due_date", sa.BigInteger(), nullable=False),
        sa.Column("defaultable_at", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("loan_id", name="pk_servicing_states"),
    )
    op.create_index("ix_servicing_states_borrower", "servicing_states", ["borrower"])
    op.create_index("ix_servicing_states_bucket", "servicing_states", ["bucket"])
    op.create_table(
        "servicing_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower", sa.String(42), nullable=False),
        sa.Column("installment", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("due_date", sa.BigInteger(), nullable=False),
        sa.Column("amount", UINT, nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_servicing_notices"),
        sa.UniqueConstraint("loan_id", "installment", "kind", name="uq_servicing_notices_once"),
    )
    op.create_index("ix_servicing_notices_loan_id", "servicing_notices", ["loan_id"])
    op.create_index("ix_servicing_notices_borrower", "servicing_notices", ["borrower"])


def downgrade() -> None:
    op.drop_index("ix_servicing_notices_borrower", table_name="servicing_notices")
    op.drop_index("ix_servicing_notices_loan_id", table_name="servicing_notices")
    op.drop_table("servicing_notices")
    op.drop_index("ix_servicing_states_bucket", table_name="servicing_states")
    op.drop_index("ix_servicing_states_borrower", table_name="servicing_states")
    op.drop_table("servicing_states")

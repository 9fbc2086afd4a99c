"""Sessions end for access tokens too: `session_epochs` holds each wallet's session generation,
which every token carries and logout or refresh-token reuse moves on (backend/identity/tokens.py).
Tokens issued before carry no generation and are refused: everyone signs in once more.

Revision ID: 0029_session_epochs
Revises: 0028_loan_created_tx
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_session_epochs"
down_revision = "0028_loan_created_tx"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_epochs",
        sa.Column("wallet", sa.String(length=42), primary_key=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("session_epochs")

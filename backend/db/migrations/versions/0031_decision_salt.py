"""Credit decisions keep the keyed salt their decision hash commits under (null for decisions
recorded before: their hashes, already on chain, stay unsalted)

Revision ID: 0031_decision_salt
Revises: 0030_sealed_review_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_decision_salt"
down_revision = "0030_sealed_review_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:
        batch.add_column(sa.Column("salt", sa.String(length=66), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:
        batch.drop_column("salt")

"""documents.anchor_uri: a hash that names itself on chain (a month bound to its disclosure
report) is anchored alone under this uri

Revision ID: 0032_named_anchors
Revises: 0031_decision_salt
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_named_anchors"
down_revision = "0031_decision_salt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("anchor_uri", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("anchor_uri")

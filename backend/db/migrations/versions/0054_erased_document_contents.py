"""A document's bytes can be erased while its hash and proof stay: the agreement documents of the
loan offers an erasure deletes name the wallet, the amount, the term and the decision's hash
(privacy gap in README Status until 2026-12-02).

Revision ID: 0054_erased_document_contents
Revises: 0053_alert_review_wallets
"""

import sqlalchemy as sa
from alembic import op

revision = "0054_erased_document_contents"
down_revision = "0053_alert_review_wallets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("content_erased_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("content_removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("content_removed_at")
        batch.drop_column("content_erased_at")

"""Worker health: when each worker last completed a round and its last error

Revision ID: 0022_worker_health
Revises: 0021_sealed_collection_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_worker_health"
down_revision = "0021_sealed_collection_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("worker_leases") as batch:
        batch.add_column(sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_leases") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
        batch.drop_column("last_ok_at")

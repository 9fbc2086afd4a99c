"""Rate-limit windows carry their end (`ends_at`), so every ended window can be purged whichever
bucket is hit next, not only when the same client comes back. The rows there now are dropped:
their buckets are unkeyed hashes of client addresses (reversible by trying addresses), and at most
one window's counts are lost.

Revision ID: 0036_rate_window_ends
Revises: 0035_erased_decisions
"""

import sqlalchemy as sa
from alembic import op

revision = "0036_rate_window_ends"
down_revision = "0035_erased_decisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM rate_windows"))
    with op.batch_alter_table("rate_windows") as batch:
        batch.add_column(sa.Column("ends_at", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_rate_windows_ends_at", "rate_windows", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_windows_ends_at", table_name="rate_windows")
    with op.batch_alter_table("rate_windows") as batch:
        batch.drop_column("ends_at")

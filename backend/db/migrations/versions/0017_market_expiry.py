"""NoteMarket orders carry an expiry (block time; 0 = until withdrawn)

Revision ID: 0017_market_expiry
Revises: 0016_market_bids
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_market_expiry"
down_revision = "0016_market_bids"
branch_labels = None
depends_on = None

TABLES = ("chain_market_listings", "chain_market_bids")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("expires_at", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("expires_at")

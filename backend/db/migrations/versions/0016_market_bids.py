"""NoteMarket bids in the chain index; a trade names the listing it took or the bid it hit

Revision ID: 0016_market_bids
Revises: 0015_investment_rules
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_market_bids"
down_revision = "0015_investment_rules"
branch_labels = None
depends_on = None

AMOUNT = sa.String(80)  # Uint: a decimal string, exact on both databases


def upgrade() -> None:
    op.create_table(
        "chain_market_bids",
        sa.Column("bid_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bidder", sa.String(42), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("price_bps", sa.Integer(), nullable=False),
        sa.Column("notes_bid", AMOUNT, nullable=False),
        sa.Column("notes_left", AMOUNT, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bid_id", name="pk_chain_market_bids"),
    )
    for column in ("bidder", "loan_id", "status"):
        op.create_index(f"ix_chain_market_bids_{column}", "chain_market_bids", [column])
    # batch: SQLite rebuilds the table to relax a NOT NULL
    with op.batch_alter_table("chain_market_trades") as batch:
        batch.alter_column("listing_id", existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column("bid_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_chain_market_trades_bid_id", ["bid_id"])


def downgrade() -> None:
    op.execute("DELETE FROM chain_market_trades WHERE listing_id IS NULL")
    with op.batch_alter_table("chain_market_trades") as batch:
        batch.drop_index("ix_chain_market_trades_bid_id")
        batch.drop_column("bid_id")
        batch.alter_column("listing_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_table("chain_market_bids")

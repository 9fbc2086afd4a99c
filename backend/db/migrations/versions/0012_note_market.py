"""NoteMarket in the chain index: listings and trades

Revision ID: 0012_note_market
Revises: 0011_event_subjects
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_note_market"
down_revision = "0011_event_subjects"
branch_labels = None
depends_on = None

AMOUNT = sa.String(80)  # Uint: a decimal string, exact on both databases


def _ref() -> list[sa.Column]:
    return [
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "chain_market_listings",
        sa.Column("listing_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seller", sa.String(42), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("price_bps", sa.Integer(), nullable=False),
        sa.Column("notes_listed", AMOUNT, nullable=False),
        sa.Column("notes_left", AMOUNT, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        *_ref(),
        sa.PrimaryKeyConstraint("listing_id", name="pk_chain_market_listings"),
    )
    for column in ("seller", "loan_id", "status"):
        op.create_index(f"ix_chain_market_listings_{column}", "chain_market_listings", [column])
    op.create_table(
        "chain_market_trades",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.BigInteger(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("seller", sa.String(42), nullable=False),
        sa.Column("buyer", sa.String(42), nullable=False),
        sa.Column("notes", AMOUNT, nullable=False),
        sa.Column("cost", AMOUNT, nullable=False),
        *_ref(),
        sa.ForeignKeyConstraint(
            ["event_id"], ["chain_events.id"], name="fk_chain_market_trades_event_id_chain_events", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", name="pk_chain_market_trades"),
    )
    for column in ("listing_id", "loan_id", "seller", "buyer"):
        op.create_index(f"ix_chain_market_trades_{column}", "chain_market_trades", [column])


def downgrade() -> None:
    op.drop_table("chain_market_trades")
    op.drop_table("chain_market_listings")

"""The loan token's transfers out of borrower wallets in the chain index, on every chain, and the
disbursals that make a wallet a borrower's (backend/chain/loan_token.py), for the `collection_wallet`
monitoring rule. Nothing folded in here: the transfers are read from the node, so the indexer's first
round after the upgrade adds them and the disbursals where the index stands (backend/chain/index_upgrade.py),
without a rebuild.

Revision ID: 0051_borrower_token_transfers
Revises: 0050_fair_lending_checks
"""

import sqlalchemy as sa
from alembic import op

revision = "0051_borrower_token_transfers"
down_revision = "0050_fair_lending_checks"
branch_labels = None
depends_on = None

AMOUNT = sa.String(80)  # Uint: a decimal string, exact on both databases


def _ref() -> list[sa.Column]:
    return [
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
    ]


def _event_id(table: str) -> list:
    return [
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["chain_events.id"], name=f"fk_{table}_event_id_chain_events",
                                ondelete="CASCADE"),  # fmt: skip
        sa.PrimaryKeyConstraint("event_id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_table(
        "chain_disbursals",
        *_event_id("chain_disbursals"),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("borrower", sa.String(42), nullable=False),
        sa.Column("net_amount", AMOUNT, nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        *_ref(),
    )
    for column in ("loan_id", "borrower"):
        op.create_index(f"ix_chain_disbursals_{column}", "chain_disbursals", [column])
    op.create_table(
        "chain_token_transfers",
        *_event_id("chain_token_transfers"),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("recipient", sa.String(42), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        *_ref(),
    )
    for column in ("sender", "recipient"):
        op.create_index(f"ix_chain_token_transfers_{column}", "chain_token_transfers", [column])


def downgrade() -> None:
    op.drop_table("chain_token_transfers")
    op.drop_table("chain_disbursals")

"""transaction outbox, chain index, projections and worker leases (backend-core issue)

Revision ID: 0003_chain
Revises: 0002_scoring

Amounts (uint256) are decimal strings (String(80)): exact on SQLite and PostgreSQL alike.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_chain"
down_revision = "0002_scoring"
branch_labels = None
depends_on = None

AMOUNT = sa.String(80)


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def _event_ref() -> list[sa.Column]:
    """Where a projection row's latest change comes from."""
    return [
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "outbox_intents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("contract", sa.String(100), nullable=False),
        sa.Column("address", sa.String(42), nullable=True),
        sa.Column("function", sa.String(100), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("value", AMOUNT, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("sender", sa.String(42), nullable=True),
        sa.Column("sent_by", sa.String(200), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", sa.String(66), nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=True),
        sa.Column("gas_limit", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("replaced_tx_hashes", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_name", sa.String(200), nullable=True),
        sa.Column("error_args", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_intents"),
        sa.UniqueConstraint("key", name="uq_outbox_intents_key"),
    )
    op.create_index("ix_outbox_intents_status", "outbox_intents", ["status"])
    op.create_index("ix_outbox_intents_nonce", "outbox_intents", ["nonce"])
    op.create_index("ix_outbox_intents_tx_hash", "outbox_intents", ["tx_hash"])

    op.create_table(
        "chain_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sa.String(100), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("event", sa.String(100), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_events"),
        sa.UniqueConstraint("block_hash", "log_index", name="uq_chain_events_block_hash_log_index"),
    )
    op.create_index("ix_chain_events_block_number", "chain_events", ["block_number"])
    op.create_index("ix_chain_events_tx_hash", "chain_events", ["tx_hash"])
    op.create_index("ix_chain_events_event", "chain_events", ["event"])

    op.create_table(
        "indexed_blocks",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(66), nullable=False),
        sa.Column("parent_hash", sa.String(66), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("number", name="pk_indexed_blocks"),
    )
    op.create_table(
        "indexer_checkpoints",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(66), nullable=True),
        sa.Column("deployment_hash", sa.String(64), nullable=False),
        sa.Column("reorgs", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_indexer_checkpoints"),
    )
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_worker_leases"),
    )


def downgrade() -> None:
    for table in ("worker_leases", "indexer_checkpoints", "indexed_blocks", "chain_events", "outbox_intents"):
        op.drop_table(table)

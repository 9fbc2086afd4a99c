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
    _projections()


def _projections() -> None:
    op.create_table(
        "chain_anchors",
        sa.Column("root", sa.String(66), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("uri", sa.String(2000), nullable=False),
        sa.Column("anchorer", sa.String(42), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=True),
        *_event_ref(),
        sa.PrimaryKeyConstraint("root", name="pk_chain_anchors"),
    )
    op.create_table(
        "chain_attestations",
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("commitment", sa.String(66), nullable=False),
        sa.Column("attestor", sa.String(42), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        *_event_ref(),
        sa.PrimaryKeyConstraint("wallet", name="pk_chain_attestations"),
    )
    op.create_table(
        "chain_loans",
        sa.Column("loan_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("borrower", sa.String(42), nullable=False),
        sa.Column("underwriter", sa.String(42), nullable=False),
        sa.Column("terms_hash", sa.String(66), nullable=False),
        sa.Column("agreement_hash", sa.String(66), nullable=False),
        sa.Column("decision_hash", sa.String(66), nullable=False),
        sa.Column("principal", AMOUNT, nullable=False),
        sa.Column("apr_bps", sa.Integer(), nullable=False),
        sa.Column("installments", sa.Integer(), nullable=False),
        sa.Column("installment_period", sa.BigInteger(), nullable=False),
        sa.Column("installment_amount", AMOUNT, nullable=False),
        sa.Column("funding_deadline", sa.BigInteger(), nullable=False),
        sa.Column("origination_fee_bps", sa.Integer(), nullable=False),
        sa.Column("funded", AMOUNT, nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("origination_fee", AMOUNT, nullable=False),
        sa.Column("principal_outstanding", AMOUNT, nullable=False),
        sa.Column("last_installment", sa.Integer(), nullable=False),
        *[sa.Column(c, AMOUNT, nullable=False) for c in (
            "interest_paid", "principal_paid", "fees_assessed", "fees_paid", "cover", "recovered", "recoverable",
            "claimed",
        )],  # fmt: skip
        sa.Column("created_block", sa.BigInteger(), nullable=False),
        *_event_ref(),
        sa.PrimaryKeyConstraint("loan_id", name="pk_chain_loans"),
    )
    op.create_index("ix_chain_loans_status", "chain_loans", ["status"])
    op.create_index("ix_chain_loans_borrower", "chain_loans", ["borrower"])
    op.create_table(
        "chain_fundings",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("investor", sa.String(42), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("total_funded", AMOUNT, nullable=True),
        *_event_ref(),
        sa.ForeignKeyConstraint(["event_id"], ["chain_events.id"], name="fk_chain_fundings_event_id_chain_events",
                                ondelete="CASCADE"),  # fmt: skip
        sa.PrimaryKeyConstraint("event_id", name="pk_chain_fundings"),
    )
    op.create_index("ix_chain_fundings_loan_id", "chain_fundings", ["loan_id"])
    op.create_index("ix_chain_fundings_investor", "chain_fundings", ["investor"])
    op.create_table(
        "chain_repayments",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("payer", sa.String(42), nullable=False),
        sa.Column("installment", sa.Integer(), nullable=True),
        sa.Column("fee_paid", AMOUNT, nullable=False),
        sa.Column("interest_paid", AMOUNT, nullable=False),
        sa.Column("principal_paid", AMOUNT, nullable=False),
        sa.Column("amount", AMOUNT, nullable=False),
        sa.Column("principal_outstanding", AMOUNT, nullable=True),
        *_event_ref(),
        sa.ForeignKeyConstraint(["event_id"], ["chain_events.id"], name="fk_chain_repayments_event_id_chain_events",
                                ondelete="CASCADE"),  # fmt: skip
        sa.PrimaryKeyConstraint("event_id", name="pk_chain_repayments"),
    )
    op.create_index("ix_chain_repayments_loan_id", "chain_repayments", ["loan_id"])
    op.create_table(
        "chain_note_balances",
        sa.Column("loan_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(42), nullable=False),
        sa.Column("balance", AMOUNT, nullable=False),
        *_event_ref(),
        sa.PrimaryKeyConstraint("loan_id", "holder", name="pk_chain_note_balances"),
    )


TABLES = (
    "chain_note_balances", "chain_repayments", "chain_fundings", "chain_loans", "chain_attestations",
    "chain_anchors", "worker_leases", "indexer_checkpoints", "indexed_blocks", "chain_events", "outbox_intents",
)  # fmt: skip


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)

"""Indexes for reads that scanned whole tables at the target scale (10k loans, 1M chain events):
- `chain_note_balances (holder, loan_id)`: a wallet's notes (portfolio, statement, rules, mandates,
  traces) were a full scan, the primary key leading with `loan_id`.
- `chain_events (block_timestamp)`: a period's flows (`GET /disclosure/flows`, public) and alerts
  since a date.
- `chain_events (contract, event)`: a contract's events (ReserveFund ledger, FundingAgent mandates)
  had only `event` to go on, or nothing.
- `outbox_intents.key` collates "C" on PostgreSQL: key prefix lookups (an intent's retries
  `stem:2`, a mandate's fundings) are ranges `key >= prefix AND key < next(prefix)` served by
  `uq_outbox_intents_key`, and a range is a prefix only in byte order; under a linguistic collation
  punctuation is weighed last, so `default:1:2` falls outside ['default:1:', 'default:1;'). SQLite
  compares bytes already (BINARY). Keys are ASCII identifiers: equality is unchanged.

Revision ID: 0037_scale_indexes
Revises: 0036_rate_window_ends
"""

import sqlalchemy as sa
from alembic import op

revision = "0037_scale_indexes"
down_revision = "0036_rate_window_ends"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_chain_note_balances_holder", "chain_note_balances", ["holder", "loan_id"])
    op.create_index("ix_chain_events_block_timestamp", "chain_events", ["block_timestamp"])
    op.create_index("ix_chain_events_contract_event", "chain_events", ["contract", "event"])
    if op.get_bind().dialect.name == "postgresql":  # rebuilds uq_outbox_intents_key in the new order
        op.alter_column("outbox_intents", "key", type_=sa.String(200, collation="C"), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text('ALTER TABLE outbox_intents ALTER COLUMN key TYPE VARCHAR(200) COLLATE "default"'))
    op.drop_index("ix_chain_events_contract_event", table_name="chain_events")
    op.drop_index("ix_chain_events_block_timestamp", table_name="chain_events")
    op.drop_index("ix_chain_note_balances_holder", table_name="chain_note_balances")

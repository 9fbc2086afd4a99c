"""Loans keep the transaction that created them (`created_tx`, beside `created_block`): a decision's
proof and the loan tape name it, where `tx_hash` is the last event that touched the loan. Loans are
indexed by terms hash (an offer finds its loan) and decision hash (a decision's proof finds its
loans), which every offer read and proof did by scanning.

Revision ID: 0028_loan_created_tx
Revises: 0027_notice_kind_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_loan_created_tx"
down_revision = "0027_notice_kind_index"
branch_labels = None
depends_on = None

loans = sa.table("chain_loans", sa.column("loan_id", sa.BigInteger), sa.column("created_tx", sa.String(66)))
events = sa.table("chain_events", sa.column("contract", sa.String), sa.column("event", sa.String),
                  sa.column("args", sa.JSON), sa.column("tx_hash", sa.String))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("chain_loans") as batch:
        batch.add_column(sa.Column("created_tx", sa.String(length=66), nullable=True))
    bind = op.get_bind()
    created = bind.execute(sa.select(events.c.args, events.c.tx_hash)
                           .where(events.c.contract == "LoanBook", events.c.event == "LoanCreated"))  # fmt: skip
    for args, tx_hash in created:
        bind.execute(loans.update().where(loans.c.loan_id == int(args["loanId"])).values(created_tx=tx_hash))
    op.create_index("ix_chain_loans_terms_hash", "chain_loans", ["terms_hash"])
    op.create_index("ix_chain_loans_decision_hash", "chain_loans", ["decision_hash"])


def downgrade() -> None:
    op.drop_index("ix_chain_loans_decision_hash", table_name="chain_loans")
    op.drop_index("ix_chain_loans_terms_hash", table_name="chain_loans")
    with op.batch_alter_table("chain_loans") as batch:
        batch.drop_column("created_tx")

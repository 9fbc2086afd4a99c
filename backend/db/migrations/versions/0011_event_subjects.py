"""chain_event_subjects: the loans and addresses each LoanBook event names, so traces use an index
instead of scanning every event; what is already indexed is folded in here

Revision ID: 0011_event_subjects
Revises: 0010_investor_statement
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_event_subjects"
down_revision = "0010_investor_statement"
branch_labels = None
depends_on = None

ZERO = "0x" + "00" * 20
REF = ("block_number", "tx_hash", "log_index")
events = sa.table(
    "chain_events", sa.column("id", sa.Integer), sa.column("contract", sa.String), sa.column("args", sa.JSON),
    *(sa.column(c) for c in REF),
)  # fmt: skip


def _subjects(args: dict) -> list[dict]:
    """Frozen here as the projection had it when this migration was written."""
    loans = {int(args[k]) for k in ("loanId", "id") if k in args} | {int(i) for i in args.get("ids", [])}
    addresses = {v for v in args.values() if isinstance(v, str) and len(v) == 42 and v.startswith("0x")} - {ZERO}
    return [{"loan_id": loan, "address": None} for loan in sorted(loans)] + [
        {"loan_id": None, "address": address} for address in sorted(addresses)
    ]


def upgrade() -> None:
    subjects = op.create_table(
        "chain_event_subjects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.String(42), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["chain_events.id"], name="fk_chain_event_subjects_event_id_chain_events", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chain_event_subjects"),
    )
    for column in ("event_id", "loan_id", "address"):
        op.create_index(f"ix_chain_event_subjects_{column}", "chain_event_subjects", [column])
    bind = op.get_bind()
    rows = [{"event_id": ev.id, **subject, **{c: getattr(ev, c) for c in REF}}
            for ev in bind.execute(sa.select(events).where(events.c.contract == "LoanBook").order_by(events.c.id))
            for subject in _subjects(ev.args)]  # fmt: skip
    if rows:
        bind.execute(subjects.insert(), rows)


def downgrade() -> None:
    op.drop_table("chain_event_subjects")

"""investor statements: LoanBook's Claimed events join chain_fundings (kind = claim), and notes
moved between wallets get chain_note_transfers

The index is a projection of chain_events, so what is already indexed is folded in here rather
than waiting for a `loanchain index rebuild`.

Revision ID: 0010_investor_statement
Revises: 0009_investor_notices
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_investor_statement"
down_revision = "0009_investor_notices"
branch_labels = None
depends_on = None

ZERO = "0x" + "00" * 20
REF = ("block_number", "tx_hash", "log_index")
events = sa.table(
    "chain_events", sa.column("id", sa.Integer), sa.column("contract", sa.String), sa.column("event", sa.String),
    sa.column("args", sa.JSON), *(sa.column(c) for c in REF),
)  # fmt: skip
fundings = sa.table(
    "chain_fundings", sa.column("event_id"), sa.column("loan_id"), sa.column("investor"), sa.column("kind"),
    sa.column("amount"), sa.column("total_funded"), *(sa.column(c) for c in REF),
)  # fmt: skip


def _of(bind, *names: str) -> list:
    query = sa.select(events).where(events.c.contract == "LoanBook", events.c.event.in_(names)).order_by(events.c.id)
    return list(bind.execute(query))


def _moves(ev) -> list[tuple[int, str, str, int]]:
    a = ev.args
    if ev.event == "TransferSingle":
        return [(int(a["id"]), a["from"], a["to"], int(a["value"]))]
    return [(int(i), a["from"], a["to"], int(v)) for i, v in zip(a["ids"], a["values"], strict=True)]


def upgrade() -> None:
    transfers = op.create_table(
        "chain_note_transfers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("recipient", sa.String(42), nullable=False),
        sa.Column("amount", sa.String(80), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["chain_events.id"], name="fk_chain_note_transfers_event_id_chain_events", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chain_note_transfers"),
    )
    for column in ("event_id", "loan_id", "sender", "recipient"):
        op.create_index(f"ix_chain_note_transfers_{column}", "chain_note_transfers", [column])
    bind = op.get_bind()
    claims = [{"event_id": ev.id, "loan_id": int(ev.args["loanId"]), "investor": ev.args["investor"], "kind": "claim",
               "amount": str(int(ev.args["amount"])), "total_funded": None, **{c: getattr(ev, c) for c in REF}}
              for ev in _of(bind, "Claimed")]  # fmt: skip
    moved = [{"event_id": ev.id, "loan_id": loan, "sender": src, "recipient": dst, "amount": str(value),
              **{c: getattr(ev, c) for c in REF}}
             for ev in _of(bind, "TransferSingle", "TransferBatch") for loan, src, dst, value in _moves(ev)
             if ZERO not in (src, dst)]  # fmt: skip
    if claims:
        bind.execute(fundings.insert(), claims)
    if moved:
        bind.execute(transfers.insert(), moved)


def downgrade() -> None:
    op.drop_table("chain_note_transfers")
    op.execute("DELETE FROM chain_fundings WHERE kind = 'claim'")

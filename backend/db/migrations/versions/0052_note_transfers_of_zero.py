"""Note transfers of 0 name nobody: ERC-1155's transfer of 0 needs no balance, so anyone could log one
to any verified wallet and for any loan, and the index took it as notes received (a business
relationship) and as an event naming the wallet and the loan (the relationship's end, so the AML
period's). The rows the indexer kept for them are dropped here, as the projections now leave them out
(backend/chain/projections.py `event_subjects`, `NoteTransfers`); the events themselves stay.

Revision ID: 0052_note_transfers_of_zero
Revises: 0051_borrower_token_transfers
"""

import sqlalchemy as sa
from alembic import op

revision = "0052_note_transfers_of_zero"
down_revision = "0051_borrower_token_transfers"
branch_labels = None
depends_on = None

events = sa.table("chain_events", sa.column("id", sa.Integer), sa.column("contract", sa.String),
                  sa.column("event", sa.String), sa.column("args", sa.JSON))  # fmt: skip
subjects = sa.table("chain_event_subjects", sa.column("event_id", sa.Integer), sa.column("loan_id", sa.BigInteger))
transfers = sa.table("chain_note_transfers", sa.column("amount", sa.String))


def _moved(args: dict) -> set[int]:
    """The loans a TransferSingle or TransferBatch moves notes of (frozen as the projection has it)."""
    if "ids" in args:
        return {int(i) for i, v in zip(args["ids"], args["values"]) if int(v)}
    return {int(args["id"])} if int(args["value"]) else set()


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(transfers.delete().where(transfers.c.amount == "0"))
    query = sa.select(events.c.id, events.c.args).where(events.c.contract == "LoanBook",
                                                        events.c.event.in_(("TransferSingle", "TransferBatch")))  # fmt: skip
    for event_id, args in bind.execute(query).all():
        ids = {int(i) for i in args["ids"]} if "ids" in args else {int(args["id"])}
        moved = _moved(args)
        if moved == ids:
            continue
        if not moved:  # it moved nothing: it names nobody
            bind.execute(subjects.delete().where(subjects.c.event_id == event_id))
        else:  # a batch moving some loans' notes names those loans only
            bind.execute(subjects.delete().where(subjects.c.event_id == event_id,
                                                 subjects.c.loan_id.in_(sorted(ids - moved))))  # fmt: skip


def downgrade() -> None:
    pass  # the rows dropped named transfers of nothing: not put back

"""Erased credit decisions keep nothing that gives their application back: the input hash (an
unsalted keccak of a few closed choices) may be NULL, and the decisions erased before lose it,
their salt and all outputs but score, grade, PD and decision here; the offers made from them that
were never accepted (each naming the wallet, the decision, amount and term) are deleted.
Downgrading cannot bring any of it back: an erased decision's input hash reads as ''.

Revision ID: 0042_erased_decision_hashes
Revises: 0041_alert_note_sealed
"""

import sqlalchemy as sa
from alembic import op

revision = "0042_erased_decision_hashes"
down_revision = "0041_alert_note_sealed"
branch_labels = None
depends_on = None

KEPT_OUTPUTS = ("score", "grade", "pd", "decision")  # backend/identity/kyc/erasure_scope.py, as of this revision

decisions = sa.table("credit_decisions", sa.column("id", sa.String()), sa.column("input_hash", sa.String()),
                     sa.column("salt", sa.String()), sa.column("outputs", sa.JSON()),
                     sa.column("erased_at", sa.DateTime(timezone=True)))  # fmt: skip
offers = sa.table("loan_offers", sa.column("decision_id", sa.String()), sa.column("status", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:
        batch.alter_column("input_hash", existing_type=sa.String(length=66), nullable=True)
    connection = op.get_bind()
    erased = connection.execute(sa.select(decisions.c.id, decisions.c.outputs).where(decisions.c.erased_at.is_not(None))).all()
    for decision_id, outputs in erased:
        kept = {key: outputs[key] for key in KEPT_OUTPUTS if key in (outputs or {})}
        connection.execute(decisions.update().where(decisions.c.id == decision_id)
                           .values(input_hash=None, salt=None, outputs=kept))  # fmt: skip
    connection.execute(offers.delete().where(offers.c.status != "accepted", offers.c.decision_id.in_(
        sa.select(decisions.c.id).where(decisions.c.erased_at.is_not(None)))))  # fmt: skip


def downgrade() -> None:
    op.get_bind().execute(decisions.update().where(decisions.c.input_hash.is_(None)).values(input_hash=""))
    with op.batch_alter_table("credit_decisions") as batch:
        batch.alter_column("input_hash", existing_type=sa.String(length=66), nullable=False)

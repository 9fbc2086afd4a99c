"""Underwriters' review notes sealed under each credit decision's own data key (AES-256-GCM,
wrapped by the KYC master keyring) and shredded on erasure; notes written in clear before are
sealed here, then the clear column is dropped

Revision ID: 0030_sealed_review_notes
Revises: 0029_session_epochs
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0030_sealed_review_notes"
down_revision = "0029_session_epochs"
branch_labels = None
depends_on = None

decisions = sa.table("credit_decisions", sa.column("id", sa.String()), sa.column("review_note", sa.String()),
                     sa.column("sealed_review_note", sa.LargeBinary()), sa.column("key_id", sa.String()),
                     sa.column("wrapped_key", sa.LargeBinary()))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("credit_decisions") as batch:
        batch.add_column(sa.Column("sealed_review_note", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary(), nullable=True))
        batch.create_index("ix_credit_decisions_key_id", ["key_id"])
    _seal_clear_notes()
    with op.batch_alter_table("credit_decisions") as batch:
        batch.drop_column("review_note")


def _keyring():
    # Imported here: only a database that already holds notes needs the keyring to migrate.
    from backend.config import get_settings
    from backend.identity.crypto.keyring import load_keyring

    return load_keyring(context.config.attributes.get("settings") or get_settings())


def _seal_clear_notes() -> None:
    from backend.scoring.models import CreditDecision
    from backend.scoring.review_notes import seal_note

    connection = op.get_bind()
    rows = connection.execute(sa.select(decisions.c.id, decisions.c.review_note).where(decisions.c.review_note.is_not(None))).all()
    keyring = _keyring() if rows else None
    for decision_id, note in rows:
        row = CreditDecision(id=decision_id)  # transient: only carries the sealed values back
        seal_note(keyring, row, note)
        connection.execute(decisions.update().where(decisions.c.id == decision_id)
                           .values(sealed_review_note=row.sealed_review_note, key_id=row.key_id,
                                   wrapped_key=row.wrapped_key))  # fmt: skip


def downgrade() -> None:
    from backend.scoring.models import CreditDecision
    from backend.scoring.review_notes import open_note

    connection = op.get_bind()
    rows = connection.execute(sa.select(decisions.c.id, decisions.c.sealed_review_note, decisions.c.key_id,
                                        decisions.c.wrapped_key).where(decisions.c.sealed_review_note.is_not(None))).all()  # fmt: skip
    keyring = _keyring() if rows else None
    with op.batch_alter_table("credit_decisions") as batch:
        batch.add_column(sa.Column("review_note", sa.String(length=500), nullable=True))
    for decision_id, sealed, key_id, wrapped in rows:
        row = CreditDecision(id=decision_id, sealed_review_note=sealed, key_id=key_id, wrapped_key=wrapped)
        connection.execute(decisions.update().where(decisions.c.id == decision_id)
                           .values(review_note=open_note(keyring, row) or "(erased)"))  # fmt: skip
    with op.batch_alter_table("credit_decisions") as batch:
        batch.drop_index("ix_credit_decisions_key_id")
        batch.drop_column("wrapped_key")
        batch.drop_column("key_id")
        batch.drop_column("sealed_review_note")

"""Monitoring alert review notes sealed under their own data keys (AES-256-GCM, wrapped by the KYC
master keyring) and shredded with the personal data of the alert loan's borrower; notes written in
clear before are sealed here (with the keyring, as 0021 sealed the case-log notes), then the clear
column is dropped

Revision ID: 0041_alert_note_sealed
Revises: 0039_servicing_retry
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0041_alert_note_sealed"
down_revision = "0040_idem_collections"
branch_labels = None
depends_on = None

reviews = sa.table("audit_alert_reviews", sa.column("alert_key", sa.String()), sa.column("note", sa.String()),
                   sa.column("sealed_note", sa.LargeBinary()), sa.column("key_id", sa.String()),
                   sa.column("wrapped_key", sa.LargeBinary()))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("audit_alert_reviews") as batch:
        batch.add_column(sa.Column("sealed_note", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary(), nullable=True))
        batch.create_index("ix_audit_alert_reviews_key_id", ["key_id"])
    _seal_clear_notes()
    with op.batch_alter_table("audit_alert_reviews") as batch:
        batch.drop_column("note")


def _keyring():
    # Imported here: only a database that already holds reviews needs the keyring to migrate.
    from backend.config import get_settings
    from backend.identity.crypto.keyring import load_keyring

    return load_keyring(context.config.attributes.get("settings") or get_settings())


def _seal_clear_notes() -> None:
    from backend.audit.alert_notes import seal_note
    from backend.audit.models import AlertReview

    connection = op.get_bind()
    rows = connection.execute(sa.select(reviews.c.alert_key, reviews.c.note)).all()
    keyring = _keyring() if rows else None
    for alert_key, note in rows:
        row = AlertReview(alert_key=alert_key)  # transient: only carries the sealed values back
        seal_note(keyring, row, note)
        connection.execute(reviews.update().where(reviews.c.alert_key == alert_key)
                           .values(sealed_note=row.sealed_note, key_id=row.key_id, wrapped_key=row.wrapped_key))  # fmt: skip


def downgrade() -> None:
    from backend.audit.alert_notes import open_note
    from backend.audit.models import AlertReview

    connection = op.get_bind()
    rows = connection.execute(sa.select(reviews.c.alert_key, reviews.c.sealed_note, reviews.c.key_id, reviews.c.wrapped_key)).all()
    keyring = _keyring() if rows else None
    with op.batch_alter_table("audit_alert_reviews") as batch:
        batch.add_column(sa.Column("note", sa.String(length=1000), nullable=False, server_default=""))
    for alert_key, sealed, key_id, wrapped in rows:
        row = AlertReview(alert_key=alert_key, sealed_note=sealed, key_id=key_id, wrapped_key=wrapped)
        connection.execute(reviews.update().where(reviews.c.alert_key == alert_key)
                           .values(note=open_note(keyring, row) or "(erased)"))  # fmt: skip
    with op.batch_alter_table("audit_alert_reviews") as batch:
        batch.drop_index("ix_audit_alert_reviews_key_id")
        batch.drop_column("wrapped_key")
        batch.drop_column("key_id")
        batch.drop_column("sealed_note")

"""Collections case-log notes sealed under their own data keys (AES-256-GCM, wrapped by the KYC
master keyring); notes written in clear before are sealed here, then the clear column is dropped

Revision ID: 0021_sealed_collection_notes
Revises: 0020_collection_actions
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0021_sealed_collection_notes"
down_revision = "0020_collection_actions"
branch_labels = None
depends_on = None

actions = sa.table("collection_actions", sa.column("id", sa.Integer()), sa.column("note", sa.String()),
                   sa.column("sealed_note", sa.LargeBinary()), sa.column("key_id", sa.String()),
                   sa.column("wrapped_key", sa.LargeBinary()))  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("collection_actions") as batch:
        batch.add_column(sa.Column("sealed_note", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary(), nullable=True))
        batch.create_index("ix_collection_actions_key_id", ["key_id"])
    _seal_clear_notes()
    with op.batch_alter_table("collection_actions") as batch:
        batch.drop_column("note")


def _keyring():
    # Imported here: only a database that already holds notes needs the keyring to migrate.
    from backend.config import get_settings
    from backend.identity.crypto.keyring import load_keyring

    return load_keyring(context.config.attributes.get("settings") or get_settings())


def _seal_clear_notes() -> None:
    from backend.servicing.collections import seal_note
    from backend.servicing.models import CollectionAction

    connection = op.get_bind()
    rows = connection.execute(sa.select(actions.c.id, actions.c.note)).all()
    keyring = _keyring() if rows else None
    for action_id, note in rows:
        row = CollectionAction(id=action_id)  # transient: only carries the sealed values back
        seal_note(keyring, row, note)
        connection.execute(actions.update().where(actions.c.id == action_id)
                           .values(sealed_note=row.sealed_note, key_id=row.key_id, wrapped_key=row.wrapped_key))  # fmt: skip


def downgrade() -> None:
    from backend.servicing.collections import open_note
    from backend.servicing.models import CollectionAction

    connection = op.get_bind()
    rows = connection.execute(sa.select(actions.c.id, actions.c.sealed_note, actions.c.key_id, actions.c.wrapped_key)).all()
    keyring = _keyring() if rows else None
    with op.batch_alter_table("collection_actions") as batch:
        batch.add_column(sa.Column("note", sa.String(length=1000), nullable=False, server_default=""))
    for action_id, sealed, key_id, wrapped in rows:
        row = CollectionAction(id=action_id, sealed_note=sealed, key_id=key_id, wrapped_key=wrapped)
        connection.execute(actions.update().where(actions.c.id == action_id)
                           .values(note=open_note(keyring, row) or "(erased)"))  # fmt: skip
    with op.batch_alter_table("collection_actions") as batch:
        batch.drop_index("ix_collection_actions_key_id")
        batch.drop_column("wrapped_key")
        batch.drop_column("key_id")
        batch.drop_column("sealed_note")

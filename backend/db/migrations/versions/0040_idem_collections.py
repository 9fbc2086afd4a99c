"""A collections case-log entry keeps the `Idempotency-Key` its request carried, unique per actor:
a client retrying after a lost answer gets the entry its first attempt made, not a second one (a
second promise to pay would also raise a false `promise_chain` alert against the staff member;
review-api H2).

Revision ID: 0040_idem_collections
Revises: 0039_servicing_retry
"""

import sqlalchemy as sa
from alembic import op

revision = "0040_idem_collections"
down_revision = "0039_servicing_retry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("collection_actions") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch.create_unique_constraint("uq_collection_actions_idempotency_key", ["actor", "idempotency_key"])


def downgrade() -> None:
    with op.batch_alter_table("collection_actions") as batch:
        batch.drop_constraint("uq_collection_actions_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")

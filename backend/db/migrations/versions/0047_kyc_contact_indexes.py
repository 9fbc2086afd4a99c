"""Contact data compared across identities: blind indexes of a KYC record's phone, e-mail and
address (HMAC under the blind-index key, each under a prefix of its own), so that one contact on
several persons' records is found without reading the data. A record sealed before has none until
`loanchain kyc reindex` fills them (it needs the master keys, which a migration has not).

Revision ID: 0047_kyc_contact_indexes
Revises: 0046_idempotency_keys
"""

import sqlalchemy as sa
from alembic import op

revision = "0047_kyc_contact_indexes"
down_revision = "0046_idempotency_keys"
branch_labels = None
depends_on = None

COLUMNS = ("phone_index", "email_index", "address_index")


def upgrade() -> None:
    with op.batch_alter_table("kyc_records") as batch:
        for column in COLUMNS:
            batch.add_column(sa.Column(column, sa.String(length=64), nullable=True))
            batch.create_index(f"ix_kyc_records_{column}", [column])


def downgrade() -> None:
    with op.batch_alter_table("kyc_records") as batch:
        for column in COLUMNS:
            batch.drop_index(f"ix_kyc_records_{column}")
            batch.drop_column(column)

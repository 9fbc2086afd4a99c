"""users, sign-in and KYC (identity issue)

Revision ID: 0005_identity
Revises: 0004_anchoring
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_identity"
down_revision = "0004_anchoring"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("wallet", sa.String(42), nullable=False),
        _ts("created_at"),
        _ts("last_login_at", nullable=True),
        sa.PrimaryKeyConstraint("wallet", name="pk_users"),
    )
    op.create_table(
        "role_grants",
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("granted_by", sa.String(42), nullable=False),
        _ts("granted_at"),
        sa.PrimaryKeyConstraint("wallet", "role", name="pk_role_grants"),
    )
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(64), nullable=False),
        _ts("issued_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        sa.Column("wallet", sa.String(42), nullable=True),
        sa.PrimaryKeyConstraint("nonce", name="pk_auth_nonces"),
    )
    op.create_index("ix_auth_nonces_expires_at", "auth_nonces", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        _ts("issued_at"),
        _ts("expires_at"),
        _ts("used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("jti", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_wallet", "refresh_tokens", ["wallet"])
    op.create_table(
        "rate_windows",
        sa.Column("bucket", sa.String(128), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name="pk_rate_windows"),
    )
    op.create_table(
        "kyc_records",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("wallet", sa.String(42), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("id_type", sa.String(32), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("blind_index", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("commitment", sa.String(66), nullable=False),
        sa.Column("document_count", sa.Integer(), nullable=False),
        _ts("submitted_at"),
        _ts("decided_at", nullable=True),
        _ts("expires_at", nullable=True),
        sa.Column("attest_key", sa.String(128), nullable=True),
        sa.Column("revoke_key", sa.String(128), nullable=True),
        _ts("erased_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_records"),
    )
    for column in ("wallet", "status", "blind_index", "key_id"):
        op.create_index(f"ix_kyc_records_{column}", "kyc_records", [column])
    op.create_table(
        "kyc_documents",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_documents"),
        sa.ForeignKeyConstraint(["record_id"], ["kyc_records.id"], name="fk_kyc_documents_record_id_kyc_records"),
    )
    op.create_index("ix_kyc_documents_record_id", "kyc_documents", ["record_id"])
    op.create_table(
        "kyc_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(42), nullable=False),
        sa.Column("note_ciphertext", sa.LargeBinary(), nullable=True),
        _ts("at"),
        sa.PrimaryKeyConstraint("id", name="pk_kyc_events"),
        sa.ForeignKeyConstraint(["record_id"], ["kyc_records.id"], name="fk_kyc_events_record_id_kyc_records"),
    )
    op.create_index("ix_kyc_events_record_id", "kyc_events", ["record_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_kyc_events_record_id", "kyc_events"),
        ("ix_kyc_documents_record_id", "kyc_documents"),
        *((f"ix_kyc_records_{c}", "kyc_records") for c in ("wallet", "status", "blind_index", "key_id")),
        ("ix_refresh_tokens_wallet", "refresh_tokens"),
        ("ix_auth_nonces_expires_at", "auth_nonces"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("kyc_events", "kyc_documents", "kyc_records", "rate_windows", "refresh_tokens", "auth_nonces", "role_grants", "users"):
        op.drop_table(table)

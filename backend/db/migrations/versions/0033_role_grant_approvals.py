"""Staff role grants through the API are maker-checker: `role_grant_proposals` holds each grant one
admin proposed until another person confirms or rejects it (or it expires), and `role_grants`
records who confirmed a grant (NULL: granted directly by the operator's CLI, or before this)

Revision ID: 0033_role_grant_approvals
Revises: 0032_named_anchors
"""

import sqlalchemy as sa
from alembic import op

revision = "0033_role_grant_approvals"
down_revision = "0032_named_anchors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "role_grant_proposals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("wallet", sa.String(length=42), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("proposed_by", sa.String(length=42), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by", sa.String(length=42), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_role_grant_proposals_wallet", "role_grant_proposals", ["wallet"])
    op.create_index("ix_role_grant_proposals_status", "role_grant_proposals", ["status"])
    with op.batch_alter_table("role_grants") as batch:
        batch.add_column(sa.Column("confirmed_by", sa.String(length=42), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("role_grants") as batch:
        batch.drop_column("confirmed_by")
    op.drop_index("ix_role_grant_proposals_status", table_name="role_grant_proposals")
    op.drop_index("ix_role_grant_proposals_wallet", table_name="role_grant_proposals")
    op.drop_table("role_grant_proposals")

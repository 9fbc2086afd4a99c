"""users, sign-in and KYC (identity issue)

Revision ID: 0005_identity
Revises: 0004_anchoring

The revision chain is fixed in advance so domains can add their tables in parallel without
branching Alembic history; this file is filled in by its domain's work.
"""

revision = "0005_identity"
down_revision = "0004_anchoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

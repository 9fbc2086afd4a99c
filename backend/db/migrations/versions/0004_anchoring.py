"""documents, anchor batches and audit log (backend-core issue)

Revision ID: 0004_anchoring
Revises: 0003_chain

The revision chain is fixed in advance so domains can add their tables in parallel without
branching Alembic history; this file is filled in by its domain's work.
"""

revision = "0004_anchoring"
down_revision = "0003_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

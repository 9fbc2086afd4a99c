"""transaction outbox and chain index (backend-core issue)

Revision ID: 0003_chain
Revises: 0002_scoring

The revision chain is fixed in advance so domains can add their tables in parallel without
branching Alembic history; this file is filled in by its domain's work.
"""

revision = "0003_chain"
down_revision = "0002_scoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

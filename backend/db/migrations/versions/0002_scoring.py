"""scoring decisions (credit-scoring issue)

Revision ID: 0002_scoring
Revises: 0001_foundation

The revision chain is fixed in advance so domains can add their tables in parallel without
branching Alembic history; this file is filled in by its domain's work.
"""

revision = "0002_scoring"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

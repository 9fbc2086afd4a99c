"""Index servicing notices by kind: every portfolio, market and disclosure read finds the late
episodes behind the roll rates among them (`servicing.roll_rates`), a small share of all notices

Revision ID: 0027_notice_kind_index
Revises: 0026_funding_agent
"""

from alembic import op

revision = "0027_notice_kind_index"
down_revision = "0026_funding_agent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_servicing_notices_kind", "servicing_notices", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_servicing_notices_kind", table_name="servicing_notices")

"""Notices are audit-logged from this release on, and a loan's trace proves its default notice by
that entry. Those given before have none and never can (an entry appended now would be dated after
the default, as a forgery's would): the highest notice id at the upgrade is kept in `meta`, and
the trace judges notices up to it by their own row, saying so, instead of calling them forged.

Revision ID: 0038_notices_audited
Revises: 0037_scale_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0038_notices_audited"
down_revision = "0037_scale_indexes"
branch_labels = None
depends_on = None

KEY = "notices_audited_after_id"


def upgrade() -> None:
    op.execute(sa.text(f"INSERT INTO meta (key, value) SELECT '{KEY}', CAST(COALESCE(MAX(id), 0) AS VARCHAR(20)) "
                       "FROM servicing_notices"))  # fmt: skip


def downgrade() -> None:
    op.execute(sa.text(f"DELETE FROM meta WHERE key = '{KEY}'"))

"""problem ledger, rectification and evidence attachments

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0008 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

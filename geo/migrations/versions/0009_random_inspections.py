"""random inspections (双随机) and permit quality spot checks

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0009 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

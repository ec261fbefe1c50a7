"""penalty decisions, execution reports, enforcement status with problems

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0010 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

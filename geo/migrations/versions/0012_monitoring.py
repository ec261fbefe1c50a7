"""online monitoring: devices, thresholds, readings by month, special periods, events

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0012 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

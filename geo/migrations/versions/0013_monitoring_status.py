"""online monitoring in the enforcement status (exceedance, monitoring_abnormal) and live_status
on the outlets layer

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0013 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

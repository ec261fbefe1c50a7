"""permit lifecycle transitions and expiry reminders

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0007 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

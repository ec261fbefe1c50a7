"""unit search: name bigram index, credit-code and permit-number prefix indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from alembic import op

from geo.migrations.sql_0005 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

"""sign_in_failures: failed sign-ins counted per user name, and the lock that follows too many

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24

GB/T 22239-2019 (等级保护 2.0) asks systems to limit failed sign-ins (限制非法登录次数). The
count is kept per name as typed, known or not, so the lock says nothing about which names exist.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("username", sa.Text(), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sign_in_failures")

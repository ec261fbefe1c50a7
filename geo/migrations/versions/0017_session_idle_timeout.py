"""auth_sessions.last_seen_at: a browser session left idle ends

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24

GB/T 22239-2019 (等级保护 2.0) asks that a login session end when left idle (登录连接超时自动退出).
A session is seen when a request uses it (written at most once a minute); a browser session
not seen for PERMITMAP_SESSION_IDLE_MINUTES is nobody. NULL: not seen since it was opened.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("auth_sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("auth_sessions", "last_seen_at")

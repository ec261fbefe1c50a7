"""layers: data versions, enforcement status view, layer views, aggregation cells

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geo.migrations.sql_0004 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_versions",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "changed_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "layer_cells",
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("z", sa.SmallInteger(), nullable=False),
        sa.Column("cx", sa.Integer(), nullable=False),
        sa.Column("cy", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sx", sa.Float(), nullable=False),
        sa.Column("sy", sa.Float(), nullable=False),
        sa.Column("counts", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.PrimaryKeyConstraint("layer", "z", "cx", "cy"),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "layer_cells_state",
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("built_for", sa.Text(), nullable=False),
        sa.Column(
            "built_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("layer"),
        prefixes=["UNLOGGED"],
    )
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
    op.drop_table("layer_cells_state")
    op.drop_table("layer_cells")
    op.drop_table("data_versions")

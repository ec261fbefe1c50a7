"""import runs; the typical management category of each industry

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

import csv
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from geo.migrations.sql_0011 import DOWNGRADE_SQL, UPGRADE_SQL

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CSV_PATH = Path(__file__).resolve().parents[3] / "data" / "reference" / "industry_codes.csv"


def upgrade() -> None:
    op.execute(UPGRADE_SQL)
    with CSV_PATH.open(encoding="utf-8") as handle:
        tiers = [
            {"code": row["code"], "tier": row["typical_category"]} for row in csv.DictReader(handle)
        ]
    op.get_bind().execute(
        sa.text(
            "UPDATE industry_codes SET typical_category = CAST(:tier AS management_category)"
            " WHERE code = :code"
        ),
        tiers,
    )


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)

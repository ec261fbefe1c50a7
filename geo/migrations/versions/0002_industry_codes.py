"""Load the GB/T 4754-2017 小类 reference table (data/reference/industry_codes.csv).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import csv
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CSV_PATH = Path(__file__).resolve().parents[3] / "data" / "reference" / "industry_codes.csv"


def upgrade() -> None:
    table = sa.table(
        "industry_codes",
        sa.column("code", sa.String),
        sa.column("name", sa.Text),
        sa.column("section", sa.String),
        sa.column("division", sa.String),
        sa.column("heavy_water_polluter", sa.Boolean),
    )
    with CSV_PATH.open(encoding="utf-8") as handle:
        rows = [
            {
                "code": row["code"],
                "name": row["name"],
                "section": row["section"],
                "division": row["division"],
                "heavy_water_polluter": row["heavy_water_polluter"] == "true",
            }
            for row in csv.DictReader(handle)
        ]
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.execute("DELETE FROM industry_codes")

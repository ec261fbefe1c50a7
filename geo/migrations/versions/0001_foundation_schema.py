"""Foundation schema: regions, units, permits and their history, outlets, outfalls, zones, rivers.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Besides the tables, the SQL here keeps the data honest on every write path (ORM, COPY, psql):
the credit-code check digit (a generated column), valid zone polygons, updated-at stamps, the
append-only permit history, and one zone version valid at a time per code.
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geo.migrations.sql_0001 import DOWNGRADE_SQL, ENUM_TYPES, POST_TABLES_SQL, PRE_TABLES_SQL

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(PRE_TABLES_SQL)
    op.create_table(
        "admin_regions",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "level", sa.Enum("province", "city", "county", name="region_level"), nullable=False
        ),
        sa.Column("parent_code", sa.String(length=6), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("code ~ '^[0-9]{6}$'", name="code_format"),
        sa.ForeignKeyConstraint(["parent_code"], ["admin_regions.code"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index(
        op.f("ix_admin_regions_parent_code"), "admin_regions", ["parent_code"], unique=False
    )
    op.create_table(
        "industry_codes",
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("section", sa.String(length=1), nullable=False),
        sa.Column("division", sa.String(length=2), nullable=False),
        sa.Column("heavy_water_polluter", sa.Boolean(), nullable=False),
        sa.CheckConstraint("code ~ '^[0-9]{4}$'", name="code_format"),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "rivers",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("from_node", sa.Integer(), nullable=False),
        sa.Column("to_node", sa.Integer(), nullable=False),
        sa.Column("stream_order", sa.SmallInteger(), nullable=False),
        sa.Column("is_main", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("from_node <> to_node", name="no_self_loop"),
        sa.CheckConstraint("stream_order >= 1", name="order_positive"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_rivers_from_node"), "rivers", ["from_node"], unique=False)
    op.create_index(op.f("ix_rivers_to_node"), "rivers", ["to_node"], unique=False)
    op.create_table(
        "water_bodies",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "water_protection",
                "control_unit",
                "ecological_redline",
                "nature_reserve",
                "industrial_park",
                name="zone_kind",
            ),
            nullable=False,
        ),
        sa.Column("grade", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("approval_doc", sa.Text(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "(kind = 'water_protection' AND grade IN ('I', 'II', 'quasi')) OR (kind = 'control_unit' AND grade IN ('priority', 'key', 'general')) OR (kind = 'nature_reserve' AND grade IN ('core', 'buffer', 'experimental')) OR (kind = 'ecological_redline' AND grade IS NULL) OR (kind = 'industrial_park' AND grade IS NULL)",
            name="grade_matches_kind",
        ),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity_order"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", "version", name="uq_zones_code_version"),
    )
    op.create_index("ix_zones_kind_grade", "zones", ["kind", "grade"], unique=False)
    op.create_table(
        "places",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["county_code"],
            ["admin_regions.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "river_outfalls",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "outfall_type",
            sa.Enum("industrial", "municipal_wwtp", "agricultural", "other", name="outfall_type"),
            nullable=False,
        ),
        sa.Column("river_id", sa.BigInteger(), nullable=True),
        sa.Column("receiving_water", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["river_id"],
            ["rivers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index(
        op.f("ix_river_outfalls_river_id"), "river_outfalls", ["river_id"], unique=False
    )
    op.create_table(
        "units",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column(
            "credit_code_ok",
            sa.Boolean(),
            sa.Computed("credit_code_checksum_ok(credit_code)", persisted=True),
            nullable=False,
        ),
        sa.Column("site_seq", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("industry_code", sa.String(length=4), nullable=False),
        sa.Column(
            "category",
            sa.Enum("key", "simplified", "registration", name="management_category"),
            nullable=False,
        ),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("operating", "suspended", "closed", name="operating_status"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "location_source",
            sa.Enum(
                "surveyed",
                "reported",
                "geocoded",
                "converted_gcj02",
                "converted_bd09",
                name="location_source",
            ),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'", name="credit_code_format"),
        sa.CheckConstraint("site_seq BETWEEN 1 AND 999", name="site_seq_range"),
        sa.ForeignKeyConstraint(
            ["county_code"],
            ["admin_regions.code"],
        ),
        sa.ForeignKeyConstraint(
            ["industry_code"],
            ["industry_codes.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credit_code", "site_seq", name="uq_units_credit_code_site"),
    )
    op.create_index("ix_units_category_status", "units", ["category", "status"], unique=False)
    op.create_index(op.f("ix_units_county_code"), "units", ["county_code"], unique=False)
    op.create_index(op.f("ix_units_industry_code"), "units", ["industry_code"], unique=False)
    op.create_table(
        "outlets",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("medium", sa.Enum("water", "air", name="medium"), nullable=False),
        sa.Column("kind", sa.Enum("main", "general", name="outlet_kind"), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("receiving_water", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(medium = 'water') = (substr(code, 2, 1) = 'W')", name="code_matches_medium"
        ),
        sa.CheckConstraint("code ~ '^D[AW][0-9]{3}$'", name="code_format"),
        sa.CheckConstraint(
            "medium = 'water' OR receiving_water IS NULL", name="receiving_water_only_for_water"
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unit_id", "code", name="uq_outlets_unit_code"),
    )
    op.create_index(op.f("ix_outlets_unit_id"), "outlets", ["unit_id"], unique=False)
    op.create_table(
        "permits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("permit_no", sa.String(length=22), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Enum("permit", "registration", name="permit_kind"), nullable=False),
        sa.Column(
            "report_frequencies", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("valid", "expired", "revoked", "cancelled", "withdrawn", name="permit_status"),
            nullable=False,
        ),
        sa.Column("authority", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "permit_no ~ '^[0-9A-HJ-NPQRTUWXY]{18}[0-9]{3}[A-Z]$'", name="permit_no_format"
        ),
        sa.CheckConstraint("issued_on <= valid_from", name="issued_before_valid"),
        sa.CheckConstraint("valid_to > valid_from", name="validity_order"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("permit_no"),
    )
    op.create_index("ix_permits_status_valid_to", "permits", ["status", "valid_to"], unique=False)
    op.create_index(op.f("ix_permits_unit_id"), "permits", ["unit_id"], unique=False)
    op.create_table(
        "outfall_links",
        sa.Column("outfall_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=False),
        sa.Column("outlet_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["outfall_id"], ["river_outfalls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["outlet_id"], ["outlets.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outfall_id", "unit_id"),
    )
    op.create_index(op.f("ix_outfall_links_unit_id"), "outfall_links", ["unit_id"], unique=False)
    op.create_table(
        "outlet_pollutants",
        sa.Column("outlet_id", sa.BigInteger(), nullable=False),
        sa.Column("pollutant_code", sa.String(length=8), nullable=False),
        sa.Column("pollutant_name", sa.Text(), nullable=False),
        sa.Column("concentration_limit", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("concentration_unit", sa.Text(), nullable=False),
        sa.Column("annual_limit_t", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.CheckConstraint("annual_limit_t IS NULL OR annual_limit_t >= 0", name="annual_nonneg"),
        sa.CheckConstraint("concentration_limit > 0", name="concentration_positive"),
        sa.ForeignKeyConstraint(["outlet_id"], ["outlets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("outlet_id", "pollutant_code"),
    )
    op.create_table(
        "permit_history",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("permit_id", sa.BigInteger(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["permit_id"], ["permits.id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_permit_history_permit_id"), "permit_history", ["permit_id"], unique=False
    )
    op.execute(POST_TABLES_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
    op.drop_index(op.f("ix_permit_history_permit_id"), table_name="permit_history")
    op.drop_table("permit_history")
    op.drop_table("outlet_pollutants")
    op.drop_index(op.f("ix_outfall_links_unit_id"), table_name="outfall_links")
    op.drop_table("outfall_links")
    op.drop_index(op.f("ix_permits_unit_id"), table_name="permits")
    op.drop_index("ix_permits_status_valid_to", table_name="permits")
    op.drop_table("permits")
    op.drop_index(op.f("ix_outlets_unit_id"), table_name="outlets")
    op.drop_table("outlets")
    op.drop_index(op.f("ix_units_industry_code"), table_name="units")
    op.drop_index(op.f("ix_units_county_code"), table_name="units")
    op.drop_index("ix_units_category_status", table_name="units")
    op.drop_table("units")
    op.drop_index(op.f("ix_river_outfalls_river_id"), table_name="river_outfalls")
    op.drop_table("river_outfalls")
    op.drop_table("places")
    op.drop_index("ix_zones_kind_grade", table_name="zones")
    op.drop_table("zones")
    op.drop_table("water_bodies")
    op.drop_index(op.f("ix_rivers_to_node"), table_name="rivers")
    op.drop_index(op.f("ix_rivers_from_node"), table_name="rivers")
    op.drop_table("rivers")
    op.drop_table("industry_codes")
    op.drop_index(op.f("ix_admin_regions_parent_code"), table_name="admin_regions")
    op.drop_table("admin_regions")
    for enum_type in ENUM_TYPES:
        op.execute(f"DROP TYPE IF EXISTS {enum_type}")
    op.execute("DROP FUNCTION IF EXISTS credit_code_checksum_ok(text)")

"""screening rules and flags

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:46:44.156644
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from geo.migrations.sql_0003 import DOWNGRADE_SQL, POST_TABLES_SQL, PRE_TABLES_SQL

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(PRE_TABLES_SQL)
    op.create_table(
        "access_list_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("zone_code", sa.Text(), nullable=False),
        sa.Column("dimension", sa.Text(), nullable=False),
        sa.Column("requirement", sa.Text(), nullable=False),
        sa.Column(
            "prohibited_industries",
            postgresql.ARRAY(sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.CheckConstraint(
            "dimension IN ('spatial_layout', 'discharge_control', 'risk_prevention', 'resource_efficiency')",
            name="dimension_known",
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_access_list_items_zone_code"), "access_list_items", ["zone_code"], unique=False
    )
    op.create_table(
        "screening_runs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("near_boundary_m", sa.Numeric(precision=8, scale=1), nullable=False),
        sa.Column("detected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("still_open", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reopened", sa.Integer(), server_default="0", nullable=False),
        sa.Column("resolved", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "zone_rule_audit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Text(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_zone_rule_audit_rule_id"), "zone_rule_audit", ["rule_id"], unique=False
    )
    op.create_table(
        "zone_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column(
            "zone_kind",
            postgresql.ENUM(
                "water_protection",
                "control_unit",
                "ecological_redline",
                "nature_reserve",
                "industrial_park",
                name="zone_kind",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("zone_grade", sa.Text(), nullable=True),
        sa.Column(
            "feature_type",
            postgresql.ENUM(
                "unit", "outlet", "river_outfall", name="feature_type", create_type=False
            ),
            nullable=False,
        ),
        sa.Column(
            "medium",
            postgresql.ENUM("water", "air", name="medium", create_type=False),
            nullable=True,
        ),
        sa.Column("industry_scope", sa.Text(), server_default="any", nullable=False),
        sa.Column(
            "industry_codes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("requires_discharge", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("applies_to", sa.Text(), server_default="any", nullable=False),
        sa.Column(
            "severity",
            postgresql.ENUM(
                "prohibited", "restricted", "notice", name="severity", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
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
        sa.CheckConstraint("applies_to IN ('new', 'existing', 'any')", name="applies_to_known"),
        sa.CheckConstraint(
            "industry_scope <> 'listed' OR cardinality(industry_codes) > 0", name="listed_codes"
        ),
        sa.CheckConstraint(
            "industry_scope IN ('any', 'heavy_water_polluter', 'listed', 'access_list')",
            name="industry_scope_known",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "flags",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "feature_type",
            postgresql.ENUM(
                "unit", "outlet", "river_outfall", name="feature_type", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("feature_id", sa.BigInteger(), nullable=False),
        sa.Column("county_code", sa.String(length=6), nullable=True),
        sa.Column("zone_id", sa.BigInteger(), nullable=False),
        sa.Column("zone_code", sa.Text(), nullable=False),
        sa.Column(
            "zone_kind",
            postgresql.ENUM(
                "water_protection",
                "control_unit",
                "ecological_redline",
                "nature_reserve",
                "industrial_park",
                name="zone_kind",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column(
            "severity",
            postgresql.ENUM(
                "prohibited", "restricted", "notice", name="severity", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("classification", sa.Text(), nullable=False),
        sa.Column("distance_m", sa.Numeric(precision=12, scale=1), nullable=True),
        sa.Column("feature_geom_hash", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(
                "open", "confirmed", "dismissed", "resolved", name="flag_status", create_type=False
            ),
            server_default="open",
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "classification IN ('inside', 'near_boundary')", name="classification_known"
        ),
        sa.CheckConstraint(
            "status <> 'dismissed' OR (status_reason IS NOT NULL AND reviewer IS NOT NULL)",
            name="dismissal_explained",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["zone_rules.id"],
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"],
            ["zones.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feature_type", "feature_id", "zone_code", "rule_id", name="uq_flags"),
    )
    op.create_index(op.f("ix_flags_county_code"), "flags", ["county_code"], unique=False)
    op.create_index("ix_flags_feature", "flags", ["feature_type", "feature_id"], unique=False)
    op.create_index("ix_flags_status_severity", "flags", ["status", "severity"], unique=False)
    op.create_table(
        "flag_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("flag_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["flag_id"], ["flags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_flag_events_flag_id"), "flag_events", ["flag_id"], unique=False)
    op.execute(POST_TABLES_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
    op.drop_index(op.f("ix_flag_events_flag_id"), table_name="flag_events")
    op.drop_table("flag_events")
    op.drop_index("ix_flags_status_severity", table_name="flags")
    op.drop_index("ix_flags_feature", table_name="flags")
    op.drop_index(op.f("ix_flags_county_code"), table_name="flags")
    op.drop_table("flags")
    op.drop_table("zone_rules")
    op.drop_index(op.f("ix_zone_rule_audit_rule_id"), table_name="zone_rule_audit")
    op.drop_table("zone_rule_audit")
    op.drop_table("screening_runs")
    op.drop_index(op.f("ix_access_list_items_zone_code"), table_name="access_list_items")
    op.drop_table("access_list_items")
    op.execute("DROP TYPE IF EXISTS feature_type, severity, flag_status")

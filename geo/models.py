"""The data model: tables, constraints and indexes (SRID 4326 storage).

The migrations in `geo/migrations` create exactly this schema, plus the SQL functions and
triggers that keep it honest whatever the write path (ORM, COPY, psql): credit-code check digits,
valid zone polygons, updated-at stamps and the append-only permit history.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326
CREDIT_CODE_PATTERN = "^[0-9A-HJ-NPQRTUWXY]{18}$"
PERMIT_NO_PATTERN = "^[0-9A-HJ-NPQRTUWXY]{18}[0-9]{3}[A-Z]$"
OUTLET_CODE_PATTERN = "^D[AW][0-9]{3}$"


class Base(DeclarativeBase):
    """Declarative base of all permitmap tables."""


def _enum(py_enum: type[enum.Enum], name: str) -> Enum:
    """A native PostgreSQL enum storing the Python enum's values."""
    return Enum(py_enum, name=name, values_callable=lambda e: [m.value for m in e])


class RegionLevel(enum.StrEnum):
    """Administrative level."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


class ManagementCategory(enum.StrEnum):
    """排污许可 management category: 重点 / 简化 / 登记."""

    KEY = "key"
    SIMPLIFIED = "simplified"
    REGISTRATION = "registration"


class OperatingStatus(enum.StrEnum):
    """Whether the unit operates."""

    OPERATING = "operating"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class LocationSource(enum.StrEnum):
    """Where a location came from; converted or geocoded points are less certain."""

    SURVEYED = "surveyed"
    REPORTED = "reported"
    GEOCODED = "geocoded"
    CONVERTED_GCJ02 = "converted_gcj02"
    CONVERTED_BD09 = "converted_bd09"


class PermitKind(enum.StrEnum):
    """A permit (重点/简化) or a registration (登记)."""

    PERMIT = "permit"
    REGISTRATION = "registration"


class PermitStatus(enum.StrEnum):
    """Legal status of a permit: 有效 / 过期 / 撤销 / 注销 / 吊销."""

    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"


class Medium(enum.StrEnum):
    """Water (DW outlets) or air (DA outlets)."""

    WATER = "water"
    AIR = "air"


class OutletKind(enum.StrEnum):
    """主要 / 一般 排放口."""

    MAIN = "main"
    GENERAL = "general"


class OutfallType(enum.StrEnum):
    """入河排污口 class (HJ 1312-2023)."""

    INDUSTRIAL = "industrial"
    MUNICIPAL_WWTP = "municipal_wwtp"
    AGRICULTURAL = "agricultural"
    OTHER = "other"


class ZoneKind(enum.StrEnum):
    """Every zoning layer lives in one table, told apart by kind."""

    WATER_PROTECTION = "water_protection"
    CONTROL_UNIT = "control_unit"
    ECOLOGICAL_REDLINE = "ecological_redline"
    NATURE_RESERVE = "nature_reserve"
    INDUSTRIAL_PARK = "industrial_park"


ZONE_GRADES: dict[ZoneKind, tuple[str, ...]] = {
    ZoneKind.WATER_PROTECTION: ("I", "II", "quasi"),
    ZoneKind.CONTROL_UNIT: ("priority", "key", "general"),
    ZoneKind.NATURE_RESERVE: ("core", "buffer", "experimental"),
    ZoneKind.ECOLOGICAL_REDLINE: (),
    ZoneKind.INDUSTRIAL_PARK: (),
}


def _zone_grade_check() -> str:
    """CHECK expression: a zone's grade belongs to its kind."""
    clauses = []
    for kind, grades in ZONE_GRADES.items():
        allowed = (
            "grade IS NULL"
            if not grades
            else "grade IN ({})".format(", ".join(f"'{g}'" for g in grades))
        )
        clauses.append(f"(kind = '{kind.value}' AND {allowed})")
    return " OR ".join(clauses)


class Timestamps:
    """created_at / updated_at (the latter kept by a trigger)."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class AdminRegion(Base):
    """Province, city and county per GB/T 2260."""

    __tablename__ = "admin_regions"
    __table_args__ = (CheckConstraint("code ~ '^[0-9]{6}$'", name="code_format"),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    level: Mapped[RegionLevel] = mapped_column(_enum(RegionLevel, "region_level"), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("admin_regions.code", ondelete="RESTRICT"), index=True
    )
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class IndustryCode(Base):
    """GB/T 4754-2017 小类 (4-digit class) reference table."""

    __tablename__ = "industry_codes"
    __table_args__ = (CheckConstraint("code ~ '^[0-9]{4}$'", name="code_format"),)

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    section: Mapped[str] = mapped_column(String(1), nullable=False)
    division: Mapped[str] = mapped_column(String(2), nullable=False)
    heavy_water_polluter: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    typical_category: Mapped[ManagementCategory | None] = mapped_column(  # migration 0011
        _enum(ManagementCategory, "management_category")
    )


class Unit(Timestamps, Base):
    """排污单位: a fixed pollution source's premises."""

    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint(f"credit_code ~ '{CREDIT_CODE_PATTERN}'", name="credit_code_format"),
        CheckConstraint("site_seq BETWEEN 1 AND 999", name="site_seq_range"),
        UniqueConstraint("credit_code", "site_seq", name="uq_units_credit_code_site"),
        Index("ix_units_category_status", "category", "status"),
        # the staff search: names by character bigrams, credit codes by prefix (migration 0005)
        Index("ix_units_name_bigrams", text("name_bigrams(name)"), postgresql_using="gin"),
        Index(
            "ix_units_credit_code_prefix",
            "credit_code",
            postgresql_ops={"credit_code": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(18), nullable=False)
    credit_code_ok: Mapped[bool] = mapped_column(
        Boolean, Computed("credit_code_checksum_ok(credit_code)", persisted=True)
    )
    site_seq: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    name: Mapped[str] = mapped_column(Text, nullable=False)
    industry_code: Mapped[str] = mapped_column(
        ForeignKey("industry_codes.code"), nullable=False, index=True
    )
    category: Mapped[ManagementCategory] = mapped_column(
        _enum(ManagementCategory, "management_category"), nullable=False
    )
    county_code: Mapped[str] = mapped_column(
        ForeignKey("admin_regions.code"), nullable=False, index=True
    )
    address: Mapped[str | None] = mapped_column(Text)
    status: Mapped[OperatingStatus] = mapped_column(
        _enum(OperatingStatus, "operating_status"), nullable=False
    )
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    location_source: Mapped[LocationSource] = mapped_column(
        _enum(LocationSource, "location_source"), nullable=False
    )


class Permit(Timestamps, Base):
    """排污许可证 or 排污登记, numbered per HJ 608-2017."""

    __tablename__ = "permits"
    __table_args__ = (
        CheckConstraint(f"permit_no ~ '{PERMIT_NO_PATTERN}'", name="permit_no_format"),
        CheckConstraint("valid_to > valid_from", name="validity_order"),
        CheckConstraint("issued_on <= valid_from", name="issued_before_valid"),
        Index("ix_permits_status_valid_to", "status", "valid_to"),
        # the unit's current permit, in the order the unit_status view picks it
        Index(
            "ix_permits_current",
            "unit_id",
            text("(status = 'valid') DESC"),
            text("valid_to DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_permits_permit_no_prefix",
            "permit_no",
            postgresql_ops={"permit_no": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    permit_no: Mapped[str] = mapped_column(String(22), nullable=False, unique=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    kind: Mapped[PermitKind] = mapped_column(_enum(PermitKind, "permit_kind"), nullable=False)
    report_frequencies: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default="{}"
    )
    issued_on: Mapped[date] = mapped_column(Date, nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[PermitStatus] = mapped_column(
        _enum(PermitStatus, "permit_status"), nullable=False
    )
    authority: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")  # 0007


class PermitHistory(Base):
    """Append-only history of a permit: a row per lifecycle transition (issue, change 变更, renew
    延续, revoke, cancel, withdraw) written by geo/permits.py, and by migration 0001's triggers
    for writes outside the lifecycle (loads, psql)."""

    __tablename__ = "permit_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    permit_id: Mapped[int] = mapped_column(
        ForeignKey("permits.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    change: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict] = mapped_column(JSONB, nullable=False)
    actor: Mapped[str | None] = mapped_column(Text)  # migration 0007


class Outlet(Timestamps, Base):
    """排放口 of a unit: DW… (water) or DA… (air)."""

    __tablename__ = "outlets"
    __table_args__ = (
        CheckConstraint(f"code ~ '{OUTLET_CODE_PATTERN}'", name="code_format"),
        CheckConstraint(
            "(medium = 'water') = (substr(code, 2, 1) = 'W')", name="code_matches_medium"
        ),
        CheckConstraint(
            "medium = 'water' OR receiving_water IS NULL", name="receiving_water_only_for_water"
        ),
        UniqueConstraint("unit_id", "code", name="uq_outlets_unit_code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(5), nullable=False)
    medium: Mapped[Medium] = mapped_column(_enum(Medium, "medium"), nullable=False)
    kind: Mapped[OutletKind] = mapped_column(_enum(OutletKind, "outlet_kind"), nullable=False)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)
    receiving_water: Mapped[str | None] = mapped_column(Text)


class OutletPollutant(Base):
    """A permitted pollutant at an outlet: concentration limit, and annual quantity at main ones."""

    __tablename__ = "outlet_pollutants"
    __table_args__ = (
        CheckConstraint("concentration_limit > 0", name="concentration_positive"),
        CheckConstraint("annual_limit_t IS NULL OR annual_limit_t >= 0", name="annual_nonneg"),
        CheckConstraint(
            "special_limit IS NULL OR special_limit > 0", name="special_limit_positive"
        ),
    )

    outlet_id: Mapped[int] = mapped_column(
        ForeignKey("outlets.id", ondelete="CASCADE"), primary_key=True
    )
    pollutant_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    pollutant_name: Mapped[str] = mapped_column(Text, nullable=False)
    concentration_limit: Mapped[float] = mapped_column(Numeric(12, 4), nullable=False)
    concentration_unit: Mapped[str] = mapped_column(Text, nullable=False)
    annual_limit_t: Mapped[float | None] = mapped_column(Numeric(14, 4))
    special_limit: Mapped[float | None] = mapped_column(Numeric(12, 4))  # migration 0012


class River(Base):
    """A directed river reach: water flows from `from_node` to `to_node`."""

    __tablename__ = "rivers"
    __table_args__ = (
        CheckConstraint("from_node <> to_node", name="no_self_loop"),
        CheckConstraint("stream_order >= 1", name="order_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    from_node: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    to_node: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    stream_order: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    is_main: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=False)


class WaterBody(Base):
    """A lake or reservoir."""

    __tablename__ = "water_bodies"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class Place(Base):
    """A town (镇/街道 seat or county seat) used to place demo units and label maps."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    county_code: Mapped[str] = mapped_column(ForeignKey("admin_regions.code"), nullable=False)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class RiverOutfall(Timestamps, Base):
    """入河排污口: where wastewater enters a surface water body."""

    __tablename__ = "river_outfalls"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    outfall_type: Mapped[OutfallType] = mapped_column(
        _enum(OutfallType, "outfall_type"), nullable=False
    )
    river_id: Mapped[int | None] = mapped_column(ForeignKey("rivers.id"), index=True)
    receiving_water: Mapped[str] = mapped_column(Text, nullable=False)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class OutfallLink(Base):
    """Which units (and which of their outlets) discharge through a river outfall."""

    __tablename__ = "outfall_links"

    outfall_id: Mapped[int] = mapped_column(
        ForeignKey("river_outfalls.id", ondelete="CASCADE"), primary_key=True
    )
    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"))


class Zone(Base):
    """A version of a zoning polygon; a re-approval closes it and adds the next version."""

    __tablename__ = "zones"
    __table_args__ = (
        CheckConstraint(_zone_grade_check(), name="grade_matches_kind"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity_order"),
        UniqueConstraint("code", "version", name="uq_zones_code_version"),
        Index("ix_zones_kind_grade", "kind", "grade"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[ZoneKind] = mapped_column(_enum(ZoneKind, "zone_kind"), nullable=False)
    grade: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    approval_doc: Mapped[str | None] = mapped_column(Text)
    approved_on: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)


class FeatureType(enum.StrEnum):
    """What screening checks against zones."""

    UNIT = "unit"
    OUTLET = "outlet"
    RIVER_OUTFALL = "river_outfall"


class Severity(enum.StrEnum):
    """How bad a rule's breach is."""

    PROHIBITED = "prohibited"
    RESTRICTED = "restricted"
    NOTICE = "notice"


class FlagStatus(enum.StrEnum):
    """Review status of a flag."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    RESOLVED = "resolved"


class ZoneRule(Timestamps, Base):
    """Which features a zone kind and grade prohibits or restricts, and on what legal basis."""

    __tablename__ = "zone_rules"
    __table_args__ = (
        CheckConstraint(
            "industry_scope IN ('any', 'heavy_water_polluter', 'listed', 'access_list')",
            name="industry_scope_known",
        ),
        CheckConstraint("applies_to IN ('new', 'existing', 'any')", name="applies_to_known"),
        CheckConstraint(
            "industry_scope <> 'listed' OR cardinality(industry_codes) > 0", name="listed_codes"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    zone_kind: Mapped[ZoneKind] = mapped_column(_enum(ZoneKind, "zone_kind"), nullable=False)
    zone_grade: Mapped[str | None] = mapped_column(Text)
    feature_type: Mapped[FeatureType] = mapped_column(
        _enum(FeatureType, "feature_type"), nullable=False
    )
    medium: Mapped[Medium | None] = mapped_column(_enum(Medium, "medium"))
    industry_scope: Mapped[str] = mapped_column(Text, nullable=False, server_default="any")
    industry_codes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default="{}"
    )
    requires_discharge: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=false()
    )
    applies_to: Mapped[str] = mapped_column(Text, nullable=False, server_default="any")
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), nullable=False)
    legal_basis: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())


class ZoneRuleAudit(Base):
    """Every change to a zone rule, written by a trigger (who, when, before, after)."""

    __tablename__ = "zone_rule_audit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rule_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    changed_by: Mapped[str] = mapped_column(Text, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)


class AccessListItem(Base):
    """One requirement of a control unit's access list (生态环境准入清单)."""

    __tablename__ = "access_list_items"
    __table_args__ = (
        CheckConstraint(
            "dimension IN ('spatial_layout', 'discharge_control', 'risk_prevention', "
            "'resource_efficiency')",
            name="dimension_known",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    zone_code: Mapped[str] = mapped_column(Text, nullable=False, index=True)
    dimension: Mapped[str] = mapped_column(Text, nullable=False)
    requirement: Mapped[str] = mapped_column(Text, nullable=False)
    prohibited_industries: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default="{}"
    )


class Flag(Base):
    """A feature found where a rule forbids or limits it: one per feature, zone and rule."""

    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("feature_type", "feature_id", "zone_code", "rule_id", name="uq_flags"),
        CheckConstraint(
            "classification IN ('inside', 'near_boundary')", name="classification_known"
        ),
        CheckConstraint(
            "status <> 'dismissed' OR (status_reason IS NOT NULL AND reviewer IS NOT NULL)",
            name="dismissal_explained",
        ),
        Index("ix_flags_status_severity", "status", "severity"),
        Index("ix_flags_feature", "feature_type", "feature_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    feature_type: Mapped[FeatureType] = mapped_column(
        _enum(FeatureType, "feature_type"), nullable=False
    )
    feature_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    county_code: Mapped[str | None] = mapped_column(String(6), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id"), nullable=False)
    zone_code: Mapped[str] = mapped_column(Text, nullable=False)
    zone_kind: Mapped[ZoneKind] = mapped_column(_enum(ZoneKind, "zone_kind"), nullable=False)
    rule_id: Mapped[int] = mapped_column(ForeignKey("zone_rules.id"), nullable=False)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"), nullable=False)
    legal_basis: Mapped[str] = mapped_column(Text, nullable=False)
    classification: Mapped[str] = mapped_column(Text, nullable=False)
    distance_m: Mapped[float | None] = mapped_column(Numeric(12, 1))
    feature_geom_hash: Mapped[str] = mapped_column(Text, nullable=False)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status: Mapped[FlagStatus] = mapped_column(
        _enum(FlagStatus, "flag_status"), nullable=False, server_default="open"
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FlagEvent(Base):
    """What happened to a flag, and why (append-only)."""

    __tablename__ = "flag_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    flag_id: Mapped[int] = mapped_column(
        ForeignKey("flags.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    event: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(BigInteger)


class ScreeningRun(Base):
    """One screening run: its scope and what it found."""

    __tablename__ = "screening_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scope: Mapped[str] = mapped_column(Text, nullable=False)
    near_boundary_m: Mapped[float] = mapped_column(Numeric(8, 1), nullable=False)
    detected: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    still_open: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    reopened: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    resolved: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class DataVersion(Base):
    """How many write statements a table has seen: caches built from it compare versions."""

    __tablename__ = "data_versions"

    source: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class LayerCell(Base):
    """Pre-aggregated counts of a point layer per grid cell and zoom (derived, rebuilt on demand).

    `sx`, `sy` sum the members' Web Mercator coordinates (their mean places the cluster);
    `counts` holds one count per class of the layer's aggregation, in declared order.
    """

    __tablename__ = "layer_cells"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    layer: Mapped[str] = mapped_column(Text, primary_key=True)
    z: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cx: Mapped[int] = mapped_column(Integer, primary_key=True)
    cy: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, nullable=False)
    sx: Mapped[float] = mapped_column(Float, nullable=False)
    sy: Mapped[float] = mapped_column(Float, nullable=False)
    counts: Mapped[list[int]] = mapped_column(ARRAY(Integer), nullable=False)


class LayerCellsState(Base):
    """Which data versions a layer's cells were built from."""

    __tablename__ = "layer_cells_state"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    layer: Mapped[str] = mapped_column(Text, primary_key=True)
    built_for: Mapped[str] = mapped_column(Text, nullable=False)
    built_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


# ---- users, sessions, audit (migration 0006) ------------------------------------------------


class UserRole(enum.StrEnum):
    """What a user may do: inspectors inspect, reviewers review permits and flags, supervisors
    approve close-outs and run draws, admins do everything (users, rules, zones)."""

    INSPECTOR = "inspector"
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(Base):
    """A staff member who signs in (the public never does)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("username ~ '^[A-Za-z0-9._-]{2,40}$'", name="username_format"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(Text, nullable=False)
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"), nullable=False)
    county_code: Mapped[str | None] = mapped_column(
        String(6), ForeignKey("admin_regions.code"), nullable=True
    )
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=true())
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class AuthSession(Base):
    """A signed-in session: an API token or a browser cookie (only its SHA-256 is stored)."""

    __tablename__ = "auth_sessions"
    __table_args__ = (CheckConstraint("kind IN ('api', 'browser')", name="session_kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SignInFailure(Base):
    """Failed sign-ins in a row for a name as typed (known or not), and the lock they led to."""

    __tablename__ = "sign_in_failures"

    username: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One row of the append-only audit log (written by triggers and by sign-in)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity", "entity_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    entity: Mapped[str] = mapped_column(Text, nullable=False)
    entity_id: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)


# Tables of the enforcement workflow live in modules of their own (one per migration); importing
# them here puts them in Base.metadata, which Alembic's model check compares with the database.
from geo import (  # noqa: E402, F401
    models_imports,
    models_inspections,
    models_monitoring,
    models_penalties,
    models_permits,
    models_problems,
)

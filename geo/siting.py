"""Siting check for planners: where a proposed project would stand, which zones and rules bind it.

A proposed point, line or polygon (in WGS84, CGCS2000, GCJ-02 or BD-09) is converted to WGS84,
made valid (and the answer says so), checked against the province, then matched in a few read-only
SQL statements against the current zones: the zones it intersects with overlap and share, the
rules that apply to a new or expanded unit of its industry (matched as screening matches them, but
for `applies_to` new/any, plus existing for an expansion), the nearest drinking-water protection
zones and intakes, and the access list of its control unit(s). Nothing is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from geo.coords import InputCRS, parse_crs
from geo.errors import ValidationError
from geo.geofiles import prepare_geometry

MEDIA = frozenset({"water", "air"})
PROJECTS = ("new", "expansion")
NEAREST_LIMIT = 5
_KNN_CANDIDATES = 4  # KNN (planar) candidates per wanted row, re-ranked by geodesic distance
_SEVERITY_ORDER = ("prohibited", "restricted")


@dataclass
class SitingRequest:
    """A proposed site: its geometry in `crs`, the industry, media discharged, new or expansion.

    `source_field` names where the geometry came from in error messages ("geometry" for a
    GeoJSON body, "file" for an upload).
    """

    geometry: BaseGeometry
    crs: InputCRS | str
    industry_code: str
    media: frozenset[str] | str = frozenset()
    project: str = "new"
    source_field: str = "geometry"


@dataclass
class ZoneOverlap:
    """A current zone the proposal intersects; `share` is of the proposal's area (polygons),
    length (lines) or 1.0 (points)."""

    code: str
    name: str
    kind: str
    grade: str | None
    version: int
    overlap_area_m2: float
    overlap_length_m: float
    share: float


@dataclass
class ApplicableRule:
    """A rule that binds the proposal, the zones that trigger it and its legal basis."""

    code: str
    severity: str
    legal_basis: str
    description: str
    zone_codes: list[str]


@dataclass
class NearbyZone:
    """A water-protection zone (or a water source's grade I zone) and its geodesic distance."""

    code: str
    name: str
    grade: str | None
    source_code: str | None
    distance_m: float


@dataclass
class AccessItem:
    """One requirement of a control unit's access list; `applies` when it bans this industry."""

    dimension: str
    requirement: str
    prohibited_industries: list[str]
    applies: bool


@dataclass
class ControlUnitAccess:
    """A control unit the proposal intersects and its access list."""

    code: str
    name: str
    grade: str | None
    items: list[AccessItem] = field(default_factory=list)


@dataclass
class SitingResult:
    """The answer: verdict prohibited / restricted / allowed (notices do not block)."""

    verdict: str
    industry_code: str
    industry_name: str
    heavy_water_polluter: bool
    project: str
    media: list[str]
    input_crs: str
    geometry: dict
    area_m2: float
    length_m: float
    notes: list[str]
    rules: list[ApplicableRule]
    zones: list[ZoneOverlap]
    nearest_protection_zones: list[NearbyZone]
    nearest_intakes: list[NearbyZone]
    control_units: list[ControlUnitAccess]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict."""
        return asdict(self)


# ---- SQL ---------------------------------------------------------------------------------

PROPOSAL = "(SELECT ST_GeomFromWKB(:wkb, 4326) AS geom) g"

MEASURE_SQL = f"""
SELECT ST_Area(g.geom::geography) AS area_m2,
       CASE WHEN ST_Dimension(g.geom) = 1 THEN ST_Length(g.geom::geography) ELSE 0 END
         AS length_m,
       count(p.code) AS provinces, sum(ST_Area(p.geom::geography)) AS province_area_m2,
       COALESCE(bool_or(ST_Intersects(p.geom, g.geom)), false) AS in_province,
       COALESCE(bool_or(ST_CoveredBy(g.geom, p.geom)), false) AS covered
FROM {PROPOSAL} LEFT JOIN admin_regions p ON p.level = 'province'
GROUP BY g.geom
"""

# Polygons that only touch a zone's outline are not in it; points and lines on it are.
ZONES_SQL = f"""
SELECT z.id, z.code, z.name, z.kind::text AS kind, z.grade, z.version,
       CASE WHEN :dim = 2 THEN ST_Area(o.geom::geography) ELSE 0 END AS overlap_area_m2,
       CASE WHEN :dim = 1 THEN ST_Length(o.geom::geography) ELSE 0 END AS overlap_length_m,
       CASE :dim WHEN 2 THEN ST_Area(o.geom::geography) / NULLIF(:area, 0)
                 WHEN 1 THEN ST_Length(o.geom::geography) / NULLIF(:length, 0)
                 ELSE 1.0 END AS share
FROM current_zones z CROSS JOIN {PROPOSAL}
CROSS JOIN LATERAL (SELECT ST_Intersection(z.geom, g.geom) AS geom) o
WHERE ST_Intersects(z.geom, g.geom) AND (:dim < 2 OR NOT ST_Touches(z.geom, g.geom))
ORDER BY z.kind, z.code
"""

# As screening's MATCHES_SQL, for a proposed unit of a known industry in the intersected zones;
# a project that discharges also brings its outlets to the site (Art. 64 outlet rules).
RULES_SQL = """
SELECT r.code, r.severity::text AS severity, r.legal_basis, r.description,
       array_agg(DISTINCT z.code ORDER BY z.code) AS zone_codes
FROM current_zones z
JOIN zone_rules r ON r.active AND r.applies_to = ANY(:applies_to)
  AND r.zone_kind = z.kind AND (r.zone_grade IS NULL OR r.zone_grade = z.grade)
  AND (r.feature_type = 'unit' OR (r.feature_type = 'outlet' AND :discharges))
  AND (r.medium IS NULL OR r.medium::text = ANY(:media))
  AND (NOT r.requires_discharge OR :discharges)
  AND (r.industry_scope = 'any'
       OR (r.industry_scope = 'heavy_water_polluter' AND :heavy)
       OR (r.industry_scope = 'listed' AND :industry = ANY (r.industry_codes))
       OR (r.industry_scope = 'access_list' AND EXISTS (
             SELECT 1 FROM access_list_items a, unnest(a.prohibited_industries) AS banned
             WHERE a.zone_code = z.code AND :industry LIKE banned || '%')))
WHERE z.id = ANY(:zone_ids)
GROUP BY r.id, r.code, r.severity, r.legal_basis, r.description
ORDER BY r.severity, r.code
"""

# Nearest water-protection zones (`:grade` NULL: any grade), optionally one per water source
# (zones of a source share its parent_code). KNN picks candidates; the geodesic distance ranks.
NEAREST_SQL = f"""
SELECT code, name, grade, source_code, distance_m FROM (
  SELECT DISTINCT ON (CASE WHEN :per_source THEN c.source_code ELSE c.code END)
         c.code, c.name, c.grade, c.source_code,
         ST_Distance(c.geom::geography, g.geom::geography) AS distance_m
  FROM (SELECT z.code, z.name, z.grade, COALESCE(z.parent_code, z.code) AS source_code, z.geom
        FROM current_zones z CROSS JOIN {PROPOSAL}
        WHERE z.kind = 'water_protection' AND (CAST(:grade AS text) IS NULL OR z.grade = :grade)
        ORDER BY z.geom <-> g.geom LIMIT :candidates) c
  CROSS JOIN {PROPOSAL}
  ORDER BY CASE WHEN :per_source THEN c.source_code ELSE c.code END, distance_m) d
ORDER BY distance_m, code LIMIT :limit
"""

ACCESS_SQL = """
SELECT z.code, z.name, z.grade, a.dimension, a.requirement, a.prohibited_industries,
       EXISTS (SELECT 1 FROM unnest(a.prohibited_industries) AS banned
               WHERE :industry LIKE banned || '%') AS applies
FROM current_zones z LEFT JOIN access_list_items a ON a.zone_code = z.code
WHERE z.id = ANY(:zone_ids) AND z.kind = 'control_unit'
ORDER BY z.code, array_position(ARRAY['spatial_layout', 'discharge_control', 'risk_prevention',
                                      'resource_efficiency'], a.dimension), a.id
"""


# ---- the check ---------------------------------------------------------------------------


def check_siting(
    session: Session,
    request: SitingRequest,
    *,
    max_area_km2: float | None = None,
    nearest_limit: int = NEAREST_LIMIT,
) -> SitingResult:
    """Check a proposed site against the current zones and rules (read-only).

    Raises ValidationError naming the field: `crs`, `media`, `project`, `industry_code`
    (unknown code), or `request.source_field` (empty or degenerate geometry, coordinates that
    are not lon/lat, larger than the province or than `max_area_km2`, outside the province).
    """
    crs = parse_crs(request.crs)
    media = _check_media(request.media)
    project = _check_project(request.project)
    industry = _industry(session, request.industry_code)
    where = request.source_field
    geometry, notes = prepare_geometry(request.geometry, crs, field=where)
    wkb = shapely.to_wkb(geometry, include_srid=False)
    extent = session.execute(text(MEASURE_SQL), {"wkb": wkb}).one()
    notes += _check_extent(extent, where, max_area_km2)
    dim = int(shapely.get_dimensions(geometry))
    rows = session.execute(
        text(ZONES_SQL),
        {"wkb": wkb, "dim": dim, "area": extent.area_m2, "length": extent.length_m},
    ).all()
    zone_ids = [row.id for row in rows]
    rules = _rules(session, zone_ids, industry, media, project)
    return SitingResult(
        verdict=_verdict(rules),
        industry_code=industry["code"],
        industry_name=industry["name"],
        heavy_water_polluter=industry["heavy_water_polluter"],
        project=project,
        media=sorted(media),
        input_crs=crs.value,
        geometry=json.loads(shapely.to_geojson(geometry)),
        area_m2=round(extent.area_m2, 1),
        length_m=round(extent.length_m, 1),
        notes=notes,
        rules=rules,
        zones=[_overlap(row) for row in rows],
        nearest_protection_zones=_nearest(session, wkb, None, nearest_limit),
        nearest_intakes=_nearest(session, wkb, "I", nearest_limit),
        control_units=_access(session, zone_ids, industry["code"]),
    )


def _check_media(media: Iterable[str] | str) -> frozenset[str]:
    """The media discharged; a string is read as a comma-separated list ("water,air")."""
    names = media.split(",") if isinstance(media, str) else media
    chosen = frozenset(str(m).strip().lower() for m in names) - {""}
    if not chosen <= MEDIA:
        raise ValidationError(
            f"media: unknown medium {sorted(chosen - MEDIA)}; use 'water' and/or 'air'",
            field="media",
            value=sorted(chosen - MEDIA),
        )
    return chosen


def _check_project(project: str) -> str:
    if project not in PROJECTS:
        raise ValidationError(
            f"project: {project!r} is not 'new' or 'expansion'", field="project", value=project
        )
    return project


def _industry(session: Session, code: str) -> dict:
    code = str(code or "").strip()
    row = None
    if re.fullmatch(r"\d{4}", code):
        row = session.execute(
            text("SELECT code, name, heavy_water_polluter FROM industry_codes WHERE code = :code"),
            {"code": code},
        ).one_or_none()
    if row is None:
        raise ValidationError(
            f"industry_code: {code!r} is not a GB/T 4754-2017 小类 (4-digit class) code",
            field="industry_code",
            value=code,
        )
    return dict(row._mapping)


def _check_extent(extent: Row, where: str, max_area_km2: float | None) -> list[str]:
    """Refuse a geometry larger than the province (or the limit) or outside it; notes else."""
    area_km2 = extent.area_m2 / 1e6
    if max_area_km2 is not None and area_km2 > max_area_km2:
        raise ValidationError(
            f"{where}: the geometry covers {area_km2:,.1f} km², over the limit of "
            f"{max_area_km2:,.1f} km²",
            field=where,
        )
    if not extent.provinces:
        return ["no province boundary is loaded; the extent was not checked"]
    if area_km2 > extent.province_area_m2 / 1e6:
        raise ValidationError(
            f"{where}: the geometry covers {area_km2:,.1f} km², more than the whole province "
            f"({extent.province_area_m2 / 1e6:,.1f} km²)",
            field=where,
        )
    if not extent.in_province:
        raise ValidationError(f"{where}: the geometry is outside the province", field=where)
    return [] if extent.covered else ["part of the geometry lies outside the province"]


def _rules(
    session: Session, zone_ids: list[int], industry: dict, media: frozenset[str], project: str
) -> list[ApplicableRule]:
    applies_to = ["new", "any", "existing"] if project == "expansion" else ["new", "any"]
    rows = session.execute(
        text(RULES_SQL),
        {
            "zone_ids": zone_ids,
            "applies_to": applies_to,
            "media": sorted(media),
            "discharges": bool(media),
            "heavy": industry["heavy_water_polluter"],
            "industry": industry["code"],
        },
    ).all()
    return [ApplicableRule(**row._mapping) for row in rows]


def _verdict(rules: list[ApplicableRule]) -> str:
    """The worst severity among the rules; notices alone leave the site allowed."""
    severities = {rule.severity for rule in rules}
    return next((s for s in _SEVERITY_ORDER if s in severities), "allowed")


def _overlap(row: Row) -> ZoneOverlap:
    return ZoneOverlap(
        code=row.code,
        name=row.name,
        kind=row.kind,
        grade=row.grade,
        version=row.version,
        overlap_area_m2=round(float(row.overlap_area_m2), 1),
        overlap_length_m=round(float(row.overlap_length_m), 1),
        share=round(float(row.share or 0.0), 6),
    )


def _nearest(session: Session, wkb: bytes, grade: str | None, limit: int) -> list[NearbyZone]:
    """Nearest protection zones (grade None) or intakes (grade I, one per water source)."""
    rows = session.execute(
        text(NEAREST_SQL),
        {
            "wkb": wkb,
            "grade": grade,
            "per_source": grade is not None,
            "candidates": limit * _KNN_CANDIDATES,
            "limit": limit,
        },
    ).all()
    return [
        NearbyZone(r.code, r.name, r.grade, r.source_code, round(float(r.distance_m), 1))
        for r in rows
    ]


def _access(session: Session, zone_ids: list[int], industry: str) -> list[ControlUnitAccess]:
    rows = session.execute(text(ACCESS_SQL), {"zone_ids": zone_ids, "industry": industry}).all()
    units: dict[str, ControlUnitAccess] = {}
    for row in rows:
        unit = units.setdefault(row.code, ControlUnitAccess(row.code, row.name, row.grade))
        if row.dimension is not None:
            unit.items.append(
                AccessItem(
                    row.dimension,
                    row.requirement,
                    list(row.prohibited_industries),
                    bool(row.applies),
                )
            )
    return list(units.values())

"""The zones import: protection zones, control units, red lines, reserves and parks from a
GeoPackage, a zipped Shapefile, GeoJSON (see `geo.imports.gisfiles`) or a corner-point table
(see `geo.imports.corner_points`), upserted by zone code as zone versions.

Both kinds of file become the same features (polygons in EPSG:4326 with text attributes) and go
through one path: attributes read by `ZONE_COLUMNS`, each polygon made valid (repairs noted per
zone), then checked in PostGIS against the province (a zone must intersect it) and against the
zone's latest version (same geometry at 1e-7° and same attributes: unchanged). `write` adds
version 1 of a new code and, for a changed zone, closes the current version at the new one's
`valid_from` and adds the next (as `geo.zones.new_zone_version` does, set-based and without its
per-zone screening: the import's runner screens the returned Scope once).

A blank optional cell (grade, approval) keeps the value of the zone's current version; a corner-
point table may also leave out name and kind for a zone that exists. A new version starts at
生效日期, else at 批复日期 when given, else today; it must start after the current version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import shapely
from sqlalchemy import Row, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.clock import Clock, SystemClock
from geo.db import refusal_error
from geo.imports.base import ImportReport, ImportSource, Problem
from geo.imports.columns import Column, ColumnMap, map_columns
from geo.imports.corner_points import read_corner_points
from geo.imports.gisfiles import TABLE, FeatureTable, file_format, read_gis_layer
from geo.imports.tables import read_table
from geo.imports.zone_columns import (
    CORNER_ZONE_COLUMNS,
    GRADE_NAMES,
    KIND_NAMES,
    ZONE_COLUMNS,
    StagedZone,
    column_title,
    read_zones,
)
from geo.models import ZONE_GRADES, ZoneKind
from geo.screening import Scope
from geo.zones import OTHER_ZONE_REFUSAL, ZONE_CONSTRAINTS

# degrees (about 1 cm): geometries equal at this precision are unchanged; permitmap's own
# exports write 7 decimals, so an exported zone imports back unchanged
EQUAL_GRID = 1e-7
_LATEST_SQL = """
SELECT DISTINCT ON (code) code, version, name, kind::text AS kind, grade, approval_doc,
       approved_on, valid_from, valid_to
FROM zones WHERE code = ANY(CAST(:codes AS text[])) ORDER BY code, version DESC
"""
_SPATIAL_SQL = """
WITH staged AS (
  SELECT s.ord, s.code,
         ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_GeomFromWKB(s.wkb, 4326)), 3)) AS geom
  FROM unnest(CAST(:ords AS int[]), CAST(:codes AS text[]), CAST(:wkbs AS bytea[]))
       AS s(ord, code, wkb)
), province AS (
  SELECT ST_Union(geom) AS geom, string_agg(name, ', ') AS name
  FROM admin_regions WHERE level = 'province'
)
SELECT st.ord, p.name AS province,
       p.geom IS NULL OR ST_Intersects(p.geom, st.geom) AS in_province,
       COALESCE(ST_Equals(ST_ReducePrecision(latest.geom, :grid),
                          ST_ReducePrecision(st.geom, :grid)), false) AS same_geometry
FROM staged st CROSS JOIN province p
LEFT JOIN LATERAL (
  SELECT z.geom FROM zones z WHERE z.code = st.code ORDER BY z.version DESC LIMIT 1
) latest ON true
"""
_CLOSE_SQL = """
UPDATE zones z SET valid_to = s.valid_from
FROM unnest(CAST(:codes AS text[]), CAST(:days AS date[])) AS s(code, valid_from)
WHERE z.code = s.code AND z.valid_to IS NULL
"""
_INSERT_SQL = """
INSERT INTO zones (kind, grade, code, name, parent_code, geom, source, approval_doc,
                   approved_on, version, valid_from)
SELECT CAST(s.kind AS zone_kind), s.grade, s.code, s.name, previous.parent_code,
       ST_GeomFromWKB(s.wkb, 4326), :source, s.doc, s.approved_on, s.version, s.valid_from
FROM unnest(CAST(:codes AS text[]), CAST(:names AS text[]), CAST(:kinds AS text[]),
            CAST(:grades AS text[]), CAST(:docs AS text[]), CAST(:approved AS date[]),
            CAST(:days AS date[]), CAST(:versions AS int[]), CAST(:wkbs AS bytea[]))
     AS s(code, name, kind, grade, doc, approved_on, valid_from, version, wkb)
LEFT JOIN zones previous ON previous.code = s.code AND previous.version = s.version - 1
"""


@dataclass(frozen=True)
class ZoneBatch:
    """What `ZoneImporter.check` staged for `write`."""

    zones: tuple[StagedZone, ...]
    source: str


class ZoneImporter:
    """Zones from GIS files or corner-point tables (the `Importer` protocol, kind "zones")."""

    kind = "zones"

    def __init__(self, clock: Clock | None = None) -> None:
        """`clock` gives the default start of new versions (today in China)."""
        self.clock = clock or SystemClock()

    def check(self, session: Session, source: ImportSource, report: ImportReport) -> ZoneBatch:
        """Read the file (format by content), validate every zone, compare with the stored
        versions; set `report.rows` and the would-be counts. Writes nothing."""
        fmt = file_format(source.data)
        if fmt == TABLE:
            table = read_table(
                source.data, source.filename, limits=source.limits, encoding=source.encoding
            )
            report.rows = len(table.frame)
            features = read_corner_points(table, CORNER_ZONE_COLUMNS, source.crs, report)
            spec = CORNER_ZONE_COLUMNS
        else:
            features = read_gis_layer(source, fmt, report)
            report.rows = 0 if features is None else len(features.rows)
            spec = ZONE_COLUMNS
        source.progress("read", report.rows, report.rows)
        if features is None:
            return ZoneBatch((), "")
        zones = stage_zones(session, features, spec, report, today=self.clock.today())
        source.progress("checked", report.rows, report.rows)
        return ZoneBatch(tuple(zones), f"import: {source.filename}")

    def write(self, session: Session, staged: object, report: ImportReport) -> Scope:
        """Add new zones and new versions of changed ones; the Scope names their codes."""
        if not isinstance(staged, ZoneBatch):
            raise TypeError("write takes what check returned")
        return write_zones(session, staged, report)


def stage_zones(
    session: Session,
    features: FeatureTable,
    spec: tuple[Column, ...],
    report: ImportReport,
    *,
    today: date,
) -> list[StagedZone]:
    """The features as zones, validated (problems to `report`) and compared with the stored
    versions; sets the would-be counts. Zones with problems are left out."""
    columns = map_columns(list(features.frame.columns), spec, report)
    if columns is None:
        return []
    zones = read_zones(features, columns, {c.name for c in spec if c.required}, report)
    if not zones:
        return zones
    _compare(session, zones, columns, report, today)
    report.inserted = sum(zone.action == "insert" for zone in zones)
    report.updated = sum(zone.action == "version" for zone in zones)
    report.unchanged = sum(zone.action == "unchanged" for zone in zones)
    return zones


def _compare(
    session: Session, zones: list[StagedZone], columns: ColumnMap, report: ImportReport, today: date
) -> None:
    """Fill blanks from the latest versions, check kind and grade, the province and the start
    of new versions, and decide each zone's action (in place; problem zones are dropped)."""
    latest = {
        row.code: row
        for row in session.execute(text(_LATEST_SQL), {"codes": [zone.code for zone in zones]})
    }
    spatial = {
        row.ord: row
        for row in session.execute(
            text(_SPATIAL_SQL),
            {
                "ords": list(range(len(zones))),
                "codes": [zone.code for zone in zones],
                "wkbs": [shapely.to_wkb(zone.geometry) for zone in zones],
                "grid": EQUAL_GRID,
            },
        )
    }
    if spatial and spatial[0].province is None:
        report.note("no province boundary is loaded: zones were not checked against it")
    kept = []
    for i, zone in enumerate(zones):
        problems = report.problem_count
        previous = latest.get(zone.code)
        checked = _attributes(zone, previous, columns, report)
        if not spatial[i].in_province:
            report.add(
                Problem(
                    f"zone {zone.code} lies outside the province ({spatial[i].province})",
                    row=zone.row,
                )
            )
        if checked is None or report.problem_count > problems:
            continue
        _decide(checked, previous, spatial[i].same_geometry, columns, report, today)
        if report.problem_count == problems:
            kept.append(checked)
    zones[:] = kept


def _attributes(
    zone: StagedZone, previous: Row | None, columns: ColumnMap, report: ImportReport
) -> StagedZone | None:
    """The zone with blanks filled from its latest version, kind and grade checked."""
    if previous is not None:
        kind = zone.kind or previous.kind
        zone = replace(
            zone, name=zone.name or previous.name, kind=kind,
            grade=zone.grade or (previous.grade if kind == previous.kind else None),
            approval_doc=zone.approval_doc or previous.approval_doc,
            approved_on=zone.approved_on or previous.approved_on,
        )  # fmt: skip
    if zone.name is None or zone.kind is None:
        report.add(
            Problem(
                f"zone {zone.code} is new: give its {column_title(columns, 'name')} and "
                f"{column_title(columns, 'kind')}",
                row=zone.row,
                field=column_title(columns, "name" if zone.name is None else "kind"),
            )
        )
        return None
    allowed = ZONE_GRADES[ZoneKind(zone.kind)]
    kind_name, field = KIND_NAMES[ZoneKind(zone.kind)], column_title(columns, "grade")
    names = [GRADE_NAMES[g] for g in allowed]
    choices = ", ".join(names[:-1]) + f" or {names[-1]}" if names else ""
    if allowed and zone.grade not in allowed:
        given = (
            f"{GRADE_NAMES[zone.grade]} is not a grade of" if zone.grade else "give the grade of"
        )
        report.add(
            Problem(
                f"zone {zone.code}: {given} a {kind_name} ({choices})",
                row=zone.row,
                field=field,
                value=zone.grade and GRADE_NAMES[zone.grade],
            )
        )
    elif not allowed and zone.grade:
        report.add(
            Problem(
                f"zone {zone.code}: a {kind_name} has no grade; leave {field} empty",
                row=zone.row,
                field=field,
                value=GRADE_NAMES[zone.grade],
            )
        )
    return zone


def _decide(
    zone: StagedZone,
    previous: Row | None,
    same_geometry: bool,
    columns: ColumnMap,
    report: ImportReport,
    today: date,
) -> None:
    """Set the zone's action, version and start (a problem when it would not follow)."""
    if previous is None:
        zone.action, zone.valid_from = "insert", zone.valid_from or zone.approved_on or today
        return
    same = same_geometry and all(
        getattr(zone, name) == getattr(previous, name)
        for name in ("name", "kind", "grade", "approval_doc", "approved_on")
    )
    if same:
        zone.action = "unchanged"
        return
    approved = zone.approved_on if zone.approved_on != previous.approved_on else None
    zone.action, zone.version = "version", previous.version + 1
    zone.valid_from = zone.valid_from or approved or today
    after = previous.valid_to or previous.valid_from
    if zone.valid_from < after or (previous.valid_to is None and zone.valid_from == after):
        span = f"{previous.valid_from} to {previous.valid_to or 'now'}"
        report.add(
            Problem(
                f"zone {zone.code} changed, but its new version would start on {zone.valid_from}, "
                f"within its latest version ({span}); give a later "
                f"{column_title(columns, 'valid_from')}",
                row=zone.row,
                field=column_title(columns, "valid_from"),
                value=str(zone.valid_from),
            )
        )


def write_zones(session: Session, batch: ZoneBatch, report: ImportReport) -> Scope:
    """Close the current versions of changed zones and add the staged ones (version 1 or the
    next), set-based; set the counts; return the Scope of the zones added or changed."""
    changed = [zone for zone in batch.zones if zone.action != "unchanged"]
    versions = [zone for zone in changed if zone.action == "version"]
    try:
        if versions:
            session.execute(
                text(_CLOSE_SQL),
                {"codes": [z.code for z in versions], "days": [z.valid_from for z in versions]},
            )
        if changed:
            session.execute(text(_INSERT_SQL), {
                "codes": [z.code for z in changed], "names": [z.name for z in changed],
                "kinds": [z.kind for z in changed], "grades": [z.grade for z in changed],
                "docs": [z.approval_doc for z in changed],
                "approved": [z.approved_on for z in changed],
                "days": [z.valid_from for z in changed], "versions": [z.version for z in changed],
                "wkbs": [shapely.to_wkb(z.geometry) for z in changed], "source": batch.source,
            })  # fmt: skip
    except IntegrityError as exc:
        raise refusal_error(exc, ZONE_CONSTRAINTS, OTHER_ZONE_REFUSAL) from exc
    report.inserted = len(changed) - len(versions)
    report.updated = len(versions)
    report.unchanged = len(batch.zones) - len(changed)
    return Scope(zone_codes=tuple(zone.code for zone in changed))

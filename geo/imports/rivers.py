"""The rivers import: river lines (LineString / MultiLineString) from a GeoPackage, a zipped
Shapefile or GeoJSON (read as `geo.imports.gisfiles` reads any GIS file), stored as directed
reaches of the river network (`rivers`), with the name, stream order and main-stem flag.

Each part of a feature is one reach. **Direction**: a line is taken as digitised downstream (its
first point is the upstream end), as hydrographic data are conventionally drawn. **Nodes**: two
endpoints are one node when they coincide after snapping to a NODE_GRID (1e-6°, about 0.1 m)
grid; an endpoint on an endpoint of a stored reach (of any source) takes that reach's node
number, other endpoints get new numbers above the largest stored one, in the order the file
first reaches them. A tributary must therefore end on an endpoint: split the receiving line at
the confluence. A reach may not start and end on one node (a closed loop).

Rivers have no code, so a file replaces what was imported before from a file of the same name
(`source` = "import:<file name>"): a line equal to a stored line of that source (ST_Equals at
EQUAL_GRID = 1e-7°) is the same reach — unchanged, or updated when its attributes changed (or it
was redrawn the other way round: its nodes are swapped); other lines are added; stored lines of
the source missing from the file are deleted, unless a river outfall is placed on one (then
nothing is written). The node work and the comparison are set-based SQL over a staging table.
Screening does not depend on rivers, so the import re-screens nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ValidationError
from geo.imports.base import ImportReport, ImportSource, Problem
from geo.imports.columns import Column, ColumnMap, map_columns, report_where
from geo.imports.gisfiles import TABLE, FeatureTable, file_format, read_gis_layer
from geo.imports.staging import report_query, stage
from geo.imports.values import parse_choices, parse_integers
from geo.screening import Scope

RIVER_COLUMNS = (
    Column("name", ("河流名称", "名称", "name"), False, "the river's name"),
    Column("stream_order", ("河流等级", "级别", "stream_order"), False,
           "the stream order: a whole number from 1 (headwaters; default 1)"),
    Column("is_main", ("干流", "是否干流", "is_main"), False,
           "是/否 (true/false, 1/0): the main stem of its river system; default 否"),
)  # fmt: skip
MAIN_LABELS = {
    **dict.fromkeys(("是", "true", "t", "yes", "y", "1"), True),
    **dict.fromkeys(("否", "false", "f", "no", "n", "0"), False),
}
LINE_TYPES = ("LineString", "MultiLineString")
NODE_GRID = 1e-6  # degrees (~0.1 m): endpoints that snap to one point of this grid are one node
EQUAL_GRID = 1e-7  # degrees (~1 cm; exports write 7 decimals): equal lines are one line
MAX_ORDER = 32767  # smallint
GEOMETRY = "geometry"  # the `field` of problems with a feature's geometry
_TYPE_NAMES = np.array(
    ["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
     "MultiPolygon", "GeometryCollection"], dtype=object,
)  # fmt: skip
STAGE_TYPES = {
    "ord": "integer", "row": "integer", "part": "integer", "name": "text",
    "stream_order": "smallint", "is_main": "boolean", "geom": "geometry(LineString, 4326)",
}  # fmt: skip
_PREPARE_SQL = (
    "ALTER TABLE import_rivers ADD COLUMN sx float8, ADD COLUMN sy float8, ADD COLUMN ex float8,"
    " ADD COLUMN ey float8, ADD COLUMN match_id bigint, ADD COLUMN same_way boolean,"
    " ADD COLUMN action text NOT NULL DEFAULT 'insert', ADD COLUMN from_node integer,"
    " ADD COLUMN to_node integer",
    "UPDATE import_rivers SET sx = ST_X(p.s), sy = ST_Y(p.s), ex = ST_X(p.e), ey = ST_Y(p.e)"
    " FROM (SELECT ord, ST_SnapToGrid(ST_StartPoint(geom), :grid) AS s,"
    "  ST_SnapToGrid(ST_EndPoint(geom), :grid) AS e FROM import_rivers) p"
    " WHERE p.ord = import_rivers.ord",
    "CREATE INDEX ON import_rivers USING gist (geom)",
    "ANALYZE import_rivers",
)
_WHERE = "concat('part ', s.part, ' of the feature: ')"  # message prefix for a multi-part line
_CHECKS = (
    # a line entirely outside the province
    f"SELECT s.row, '{GEOMETRY}', concat(round(ST_X(ST_StartPoint(s.geom))::numeric, 6), ', ',"
    " round(ST_Y(ST_StartPoint(s.geom))::numeric, 6)),"
    f" CASE WHEN s.part > 0 THEN {_WHERE} ELSE '' END"
    " || 'the line lies entirely outside the province (' || p.name || ')'"
    " FROM import_rivers s, (SELECT ST_Union(geom) AS geom, string_agg(name, ', ') AS name"
    "  FROM admin_regions WHERE level = 'province') p"
    " WHERE p.geom IS NOT NULL AND NOT ST_Intersects(p.geom, s.geom)",
    # a closed loop
    f"SELECT s.row, '{GEOMETRY}', concat(s.sx, ', ', s.sy),"
    f" CASE WHEN s.part > 0 THEN {_WHERE} ELSE '' END || 'the line starts and ends at one point"
    " (a loop): a reach runs from one node to another; split it in two'"
    " FROM import_rivers s WHERE s.sx = s.ex AND s.sy = s.ey",
    # the same line twice
    f"SELECT s.row, '{GEOMETRY}', NULL, 'the same line as at row ' || t.row || ': drop one'"
    " FROM import_rivers s JOIN import_rivers t ON t.ord < s.ord"
    " AND t.geom && ST_Expand(s.geom, :equal)"
    " AND ST_Equals(ST_ReducePrecision(t.geom, :equal), ST_ReducePrecision(s.geom, :equal))",
)
_PROVINCE_SQL = "SELECT EXISTS (SELECT 1 FROM admin_regions WHERE level = 'province')"
_MATCH_SQL = """
UPDATE import_rivers s SET match_id = m.id, same_way = m.same_way,
  action = CASE WHEN m.same_way AND (m.name, m.stream_order, m.is_main)
                     IS NOT DISTINCT FROM (s.name, s.stream_order, s.is_main)
           THEN 'unchanged' ELSE 'update' END
FROM (
  SELECT DISTINCT ON (s.ord) s.ord, r.id, r.name, r.stream_order, r.is_main,
         ST_Distance(ST_StartPoint(s.geom), ST_StartPoint(r.geom))
           <= ST_Distance(ST_StartPoint(s.geom), ST_EndPoint(r.geom)) AS same_way
  FROM import_rivers s
  JOIN rivers r ON r.source = :source AND r.geom && ST_Expand(s.geom, :equal)
   AND ST_Equals(ST_ReducePrecision(r.geom, :equal), ST_ReducePrecision(s.geom, :equal))
  ORDER BY s.ord, r.id
) m
WHERE m.ord = s.ord
"""
_GONE = (
    "FROM rivers r WHERE r.source = :source"
    " AND NOT EXISTS (SELECT 1 FROM import_rivers s WHERE s.match_id = r.id)"
)
_REFERENCED_SQL = (
    "SELECT f.code, 'line ' || r.id || coalesce(' (' || r.name || ')', '') || ' of ' || r.source"
    " || ' is referenced by river outfall ' || f.code"
    " || ': keep it in the file or move the outfall first' AS message"
    " FROM (SELECT r.id, r.name, r.source " + _GONE + ") r"
    " JOIN river_outfalls f ON f.river_id = r.id ORDER BY r.id, f.code"
)
# Node numbers of the endpoints of new lines: a stored reach's node where an endpoint of one
# snaps to the same grid point (the smallest, should stored data disagree), else a new number
# above the largest stored node, in the order the file first reaches the point.
_NODES_SQL = """
CREATE TEMP TABLE import_river_nodes ON COMMIT DROP AS
WITH ends AS (
  SELECT 2 * ord AS seen, sx AS x, sy AS y FROM import_rivers WHERE match_id IS NULL
  UNION ALL
  SELECT 2 * ord + 1, ex, ey FROM import_rivers WHERE match_id IS NULL
), wanted AS (
  SELECT x, y, min(seen) AS seen FROM ends GROUP BY x, y
), stored AS (
  SELECT e.x, e.y, min(e.node) AS node
  FROM rivers r
  CROSS JOIN LATERAL (
    SELECT ST_SnapToGrid(ST_StartPoint(r.geom), :grid) AS s,
           ST_SnapToGrid(ST_EndPoint(r.geom), :grid) AS e
  ) p
  CROSS JOIN LATERAL (VALUES (ST_X(p.s), ST_Y(p.s), r.from_node),
                             (ST_X(p.e), ST_Y(p.e), r.to_node)) AS e(x, y, node)
  WHERE r.geom && (SELECT ST_Expand(ST_Extent(geom)::geometry, :grid) FROM import_rivers)
  GROUP BY e.x, e.y
), top AS (
  SELECT COALESCE(GREATEST(max(from_node), max(to_node)), 0) AS node FROM rivers
)
SELECT w.x, w.y, s.node IS NULL AS new,
       COALESCE(s.node, top.node + dense_rank() OVER (PARTITION BY s.node IS NULL
                                                      ORDER BY w.seen)) AS node
FROM wanted w LEFT JOIN stored s ON s.x = w.x AND s.y = w.y CROSS JOIN top
"""
_SET_NODES_SQL = """
UPDATE import_rivers s SET from_node = a.node, to_node = b.node
FROM import_river_nodes a, import_river_nodes b
WHERE s.match_id IS NULL AND a.x = s.sx AND a.y = s.sy AND b.x = s.ex AND b.y = s.ey
"""
_UPDATE_SQL = """
UPDATE rivers r SET name = s.name, stream_order = s.stream_order, is_main = s.is_main,
  geom = CASE WHEN s.same_way THEN r.geom ELSE s.geom END,
  from_node = CASE WHEN s.same_way THEN r.from_node ELSE r.to_node END,
  to_node = CASE WHEN s.same_way THEN r.to_node ELSE r.from_node END
FROM import_rivers s WHERE s.match_id = r.id AND s.action = 'update'
"""
_INSERT_SQL = """
INSERT INTO rivers (name, from_node, to_node, stream_order, is_main, source, geom)
SELECT name, from_node, to_node, stream_order, is_main, :source, geom
FROM import_rivers WHERE action = 'insert' ORDER BY ord
"""


@dataclass(frozen=True)
class StagedRivers:
    """What `RiverImporter.check` staged (in the temporary table `import_rivers`) for `write`."""

    source: str
    deleted: int


class RiverImporter:
    """River lines from GIS files (the `Importer` protocol, kind "rivers")."""

    kind = "rivers"

    def check(
        self, session: Session, source: ImportSource, report: ImportReport
    ) -> StagedRivers | None:
        """Read and validate the file, stage its lines, match them with the stored lines of the
        same source and number their nodes; set the would-be counts. Writes no river."""
        fmt = file_format(source.data)
        if fmt == TABLE:
            raise ValidationError(
                "file: rivers come as a GeoPackage, a zipped Shapefile or GeoJSON of lines",
                field="file",
            )
        features = read_gis_layer(source, fmt, report, geometry_types=LINE_TYPES)
        if features is None:
            return None
        report.rows = len(features.rows)
        source.progress("read", report.rows, report.rows)
        if report.rows == 0:
            report.add(Problem("the file holds no river lines", field="file"))
            return None
        columns = map_columns(list(features.frame.columns), RIVER_COLUMNS, report)
        if columns is None:
            return None
        lines = read_lines(features, columns, report)
        source.progress("checked", report.rows, report.rows)
        stage(session, "import_rivers", lines, STAGE_TYPES)
        for sql in _PREPARE_SQL:
            session.execute(text(sql), {"grid": NODE_GRID})
        params = {"equal": EQUAL_GRID, "source": f"import:{source.filename}"}
        for sql in _CHECKS:
            report_query(session, report, sql, params)
        if not session.execute(text(_PROVINCE_SQL)).scalar_one():
            report.note("no province boundary is loaded: lines were not checked against it")
        if not report.ok:
            return None
        staged = _compare(session, params, report)
        source.progress("staged", report.rows, report.rows)
        return staged

    def write(self, session: Session, staged: object, report: ImportReport) -> Scope:
        """Delete the source's lines missing from the file, update changed ones, add new ones;
        nothing to re-screen (an empty Scope)."""
        if not isinstance(staged, StagedRivers):
            raise TypeError("write takes what check returned")
        params = {"source": staged.source}
        if staged.deleted:
            session.execute(text("DELETE " + _GONE), params)
            report.note(f"deleted {_lines(staged.deleted)} of {staged.source} not in the file")
        session.execute(text(_UPDATE_SQL))
        session.execute(text(_INSERT_SQL), params)
        return Scope()


def read_lines(features: FeatureTable, columns: ColumnMap, report: ImportReport) -> pd.DataFrame:
    """One row per line (a MultiLineString's parts apart) with its attributes, in the order of
    STAGE_TYPES (geometry as hex EWKB); problems with attributes and geometries go to `report`
    and the lines with geometry problems are left out."""
    frame, rows = features.frame, features.rows

    def cells(name: str) -> pd.Series:
        if not columns.has(name):
            return pd.Series([""] * len(rows), dtype=object)  # a frame may have no columns
        return frame[columns.header(name)].astype(str).str.strip().reset_index(drop=True)

    order, bad_order = parse_integers(cells("stream_order"))
    bad_order |= np.isfinite(order) & ((order < 1) | (order > MAX_ORDER))
    if columns.has("stream_order"):
        report_where(
            report,
            bad_order,
            cells("stream_order"),
            rows,
            columns.header("stream_order"),
            "the stream order is a whole number from 1",
        )
    main, bad_main = parse_choices(cells("is_main"), MAIN_LABELS)
    if columns.has("is_main"):
        report_where(
            report,
            bad_main,
            cells("is_main"),
            rows,
            columns.header("is_main"),
            "is it the main stem? 是 or 否 (true/false, 1/0)",
        )
    lines, index = _line_parts(features.geometries, rows, report)
    parts = pd.Series(index).groupby(index).cumcount().to_numpy()
    multi = np.bincount(index, minlength=len(rows))[index] > 1
    names = cells("name").to_numpy()[index]
    return pd.DataFrame({
        "ord": np.arange(len(lines)), "row": rows[index], "part": np.where(multi, parts + 1, 0),
        "name": np.where(names == "", None, names),
        "stream_order": np.nan_to_num(order, nan=1).astype(int)[index],
        "is_main": main.eq(True).to_numpy()[index],
        "geom": shapely.to_wkb(shapely.set_srid(lines, 4326), hex=True, include_srid=True),
    })  # fmt: skip


def _line_parts(
    geometries: np.ndarray, rows: np.ndarray, report: ImportReport
) -> tuple[np.ndarray, np.ndarray]:
    """The single lines of the features and the feature each comes from; a problem for a
    feature without geometry, one that is not a line and a line without length."""
    types = shapely.get_type_id(geometries)
    missing = (types < 0) | shapely.is_empty(geometries)
    named = pd.Series(np.where(types >= 0, _TYPE_NAMES[np.maximum(types, 0)], ""), dtype=object)
    report_where(report, missing, named, rows, GEOMETRY, "the feature has no geometry")
    not_line = ~missing & ~np.isin(types, (1, 5))
    report_where(
        report,
        not_line,
        named,
        rows,
        GEOMETRY,
        "the feature is not a line: rivers are LineString or MultiLineString",
    )
    kept = np.flatnonzero(~missing & ~not_line)
    parts, index = shapely.get_parts(geometries[kept], return_index=True)
    index = kept[index]
    degenerate = (shapely.get_num_coordinates(parts) < 2) | (shapely.length(parts) == 0)
    wkt = pd.Series(shapely.to_wkt(parts, rounding_precision=7), dtype=object)
    report_where(
        report, degenerate, wkt, rows[index], GEOMETRY, "the line has fewer than 2 distinct points"
    )
    return parts[~degenerate], index[~degenerate]


def _compare(session: Session, params: dict[str, object], report: ImportReport) -> StagedRivers:
    """Match the staged lines with the source's stored ones, refuse deleting lines that river
    outfalls reference, number the nodes of new lines; set the counts."""
    session.execute(text(_MATCH_SQL), params)
    report.add_many(
        [
            Problem(row.message, value=row.code)
            for row in session.execute(text(_REFERENCED_SQL), params)
        ]
    )
    deleted = session.execute(text("SELECT count(*) " + _GONE), params).scalar_one()
    session.execute(text("DROP TABLE IF EXISTS import_river_nodes"))
    session.execute(text(_NODES_SQL), {"grid": NODE_GRID})
    session.execute(text(_SET_NODES_SQL))
    counts = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE action = 'insert'),"
            " count(*) FILTER (WHERE action = 'update'), count(*) FILTER (WHERE action ="
            " 'unchanged'), (SELECT count(*) FILTER (WHERE new) FROM import_river_nodes),"
            " (SELECT min(node) FILTER (WHERE new) FROM import_river_nodes) FROM import_rivers"
        )
    ).one()
    report.inserted, report.updated, report.unchanged = counts[0], counts[1], counts[2]
    if counts[3]:
        report.note(f"{counts[3]:,} new network node(s), numbered from {counts[4]}")
    if deleted and report.dry_run:
        report.note(f"{_lines(deleted)} of {params['source']} not in the file would be deleted")
    return StagedRivers(str(params["source"]), int(deleted))


def _lines(count: int) -> str:
    return f"{count:,} line{'s' if count != 1 else ''}"

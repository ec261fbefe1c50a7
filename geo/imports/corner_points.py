"""Corner-point tables (拐点坐标): zone boundaries as published with protection-zone approvals, one
row per vertex, turned into one polygon per zone.

Conventions (the README's import section repeats them):
- A row gives the zone's code, the vertex's number (点号), its longitude and latitude (decimal
  degrees or degrees-minutes-seconds, e.g. `106°33′12.3″E`), and optionally the part (部件号)
  and ring (环号) it belongs to. Ring 1 is a part's outer boundary, rings 2, 3… are holes in it;
  parts 1, 2… are separate polygons of one zone (an island). Without these columns every vertex
  is on part 1, ring 1.
- A blank code, part or ring repeats the value above it (merged cells in a spreadsheet).
- Vertex numbers run 1, 2, 3… without gaps or repeats within a ring (rows may come in any order).
- A ring is closed explicitly, as approvals publish it: its last vertex repeats the first (within
  0.1 m, the rounding of a DMS value to 0.001″; the last is then snapped onto the first). It has
  at least 4 vertices with that repeat, and must not cross or touch itself: the first pair of
  non-adjacent edges that meet is named by vertex numbers and rows.
- The zone's other columns (name, kind, grade, approval) may be given on every row or once per
  zone; non-blank values must agree within a zone.
- Coordinates are in `ImportSource.crs` (WGS84 when not given; CGCS2000, GCJ-02, BD-09 are
  converted to WGS84 as in `geo.coords`). Projected (Gauss-Krüger) corner tables are not read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geo.coords import InputCRS, to_wgs84_arrays
from geo.imports.base import ImportReport, Problem
from geo.imports.columns import Column, ColumnMap, map_columns, report_where
from geo.imports.gisfiles import FeatureTable
from geo.imports.tables import RawTable
from geo.imports.values import blank, parse_angles, parse_integers

CLOSE_TOLERANCE_M = 0.1
_METRES_PER_DEGREE = 111_320.0
VERTEX_COLUMNS = (
    Column(
        "part",
        ("部件号", "部件", "part"),
        False,
        "the polygon part of the zone: 1, 2, 3… (1 when absent)",
    ),
    Column(
        "ring",
        ("环号", "圈号", "ring"),
        False,
        "1 = the part's outer boundary, 2, 3… = holes in it (1 when absent)",
    ),
    Column(
        "vertex",
        ("点号", "拐点序号", "拐点编号", "拐点号", "序号", "order"),
        True,
        "the vertex's number in its ring: 1, 2, 3… without gaps",
    ),
    Column(
        "lon",
        ("经度", "东经", "longitude", "lon", "x"),
        True,
        "longitude, decimal degrees or DMS (106°33′12.3″E)",
    ),
    Column(
        "lat",
        ("纬度", "北纬", "latitude", "lat", "y"),
        True,
        "latitude, decimal degrees or DMS (29°33′12.3″N)",
    ),
)
_VERTEX_NAMES = {column.name for column in VERTEX_COLUMNS}


def read_corner_points(
    table: RawTable,
    zone_columns: tuple[Column, ...],
    crs: InputCRS | None,
    report: ImportReport,
) -> FeatureTable | None:
    """One feature per zone code of a corner-point table: its polygon (EPSG:4326) and its zone
    columns (`zone_columns`, which must include the field `code`), at the zone's first row.

    Every problem goes to `report` (vertex problems at the vertex's row); returns None when there
    were any.
    """
    before = report.problem_count
    columns = map_columns(list(table.frame.columns), zone_columns + VERTEX_COLUMNS, report)
    if columns is None:
        return None
    vertices = _vertices(table, columns, crs or InputCRS.WGS84, report)
    if vertices is None:
        return None
    attributes = _zone_attributes(table, columns, vertices, report)
    naming = "part" if columns.has("part") else ""
    geometries = [
        _zone_geometry(str(code), group, naming, columns, report)
        for code, group in vertices.groupby("code", sort=False)
    ]
    if report.problem_count > before:
        return None
    return FeatureTable(
        attributes.reset_index(drop=True),
        np.asarray(geometries, dtype=object),
        vertices.groupby("code", sort=False)["row"].min().to_numpy(),
    )


def _cells(table: RawTable, columns: ColumnMap, name: str) -> pd.Series:
    frame = table.frame
    if not columns.has(name):
        return pd.Series([""] * len(frame), index=frame.index, dtype=object)
    return frame[columns.header(name)].astype(str).str.strip()


def _vertices(
    table: RawTable, columns: ColumnMap, crs: InputCRS, report: ImportReport
) -> pd.DataFrame | None:
    """One row per vertex: code, part, ring, vertex, lon, lat (WGS84), row, and the cells as
    written; None (with problems) when a cell cannot be read."""
    rows = table.row_numbers
    before = report.problem_count
    code = _cells(table, columns, "code").replace("", np.nan).ffill()
    report_where(
        report,
        code.isna().to_numpy(),
        _cells(table, columns, "code"),
        rows,
        columns.header("code"),
        "no zone code here nor in a row above",
    )
    numbers = {}
    for name in ("part", "ring", "vertex"):
        cells = _cells(table, columns, name)
        values, bad = parse_integers(cells)
        if name != "vertex":
            values = pd.Series(values).groupby(code.to_numpy()).ffill().fillna(1).to_numpy()
        elif columns.has(name):
            report_where(
                report,
                blank(cells),
                cells,
                rows,
                columns.header(name),
                "a vertex number is required",
            )
        if columns.has(name):
            report_where(
                report,
                bad | (values < 1),
                cells,
                rows,
                columns.header(name),
                "must be a whole number from 1",
            )
        numbers[name] = values
    lon_cells, lat_cells = _cells(table, columns, "lon"), _cells(table, columns, "lat")
    if _swapped(lon_cells, lat_cells):
        report.add(
            Problem(
                f"{columns.header('lon')} and {columns.header('lat')} look swapped: "
                "longitudes in China are 73–136°, latitudes 3–54°",
                field=columns.header("lon"),
            )
        )
        return None
    degrees = {}
    for name, cells, axis in (("lon", lon_cells, "lon"), ("lat", lat_cells, "lat")):
        values, bad = parse_angles(cells, axis)
        header = columns.header(name)
        report_where(report, blank(cells), cells, rows, header, "a coordinate is required")
        report_where(
            report,
            bad,
            cells,
            rows,
            header,
            "cannot read as degrees: use decimal degrees (106.5534) or "
            "degrees-minutes-seconds (106°33′12.3″E); projected X/Y are not accepted",
        )
        degrees[name] = values
    if report.problem_count > before:
        return None
    lon, lat = to_wgs84_arrays(degrees["lon"], degrees["lat"], crs)
    return pd.DataFrame(
        {
            "code": code.to_numpy(),
            **{k: v.astype(int) for k, v in numbers.items()},
            "lon": lon,
            "lat": lat,
            "row": rows,
            "lon_text": lon_cells.to_numpy(),
            "lat_text": lat_cells.to_numpy(),
        }
    )


def _swapped(lon_cells: pd.Series, lat_cells: pd.Series) -> bool:
    """Whether the columns only read as the other axis: longitudes that are all latitudes (or
    carry N/S) and latitudes that are all Chinese longitudes (or carry E/W)."""
    given = ~blank(lon_cells) & ~blank(lat_cells)
    if not given.any():
        return False
    lon, lat = lon_cells[given], lat_cells[given]
    as_lat, bad_as_lat = parse_angles(lon, "lat")
    as_lon, bad_as_lon = parse_angles(lat, "lon")
    if bad_as_lat.any() or bad_as_lon.any() or np.isnan(as_lat).any() or np.isnan(as_lon).any():
        return False
    _, bad_lon = parse_angles(lon, "lon")
    _, bad_lat = parse_angles(lat, "lat")
    inland = (np.abs(as_lat) <= 54).all() and (np.abs(as_lon) >= 73).all()
    return bool(bad_lon.any() or bad_lat.any() or inland)


def _zone_attributes(
    table: RawTable, columns: ColumnMap, vertices: pd.DataFrame, report: ImportReport
) -> pd.DataFrame:
    """One row per zone: each zone column's value, which non-blank cells must agree on."""
    codes = vertices["code"]
    out = {columns.header("code"): codes.drop_duplicates().to_numpy()}
    for name, header in columns.headers.items():
        if name in _VERTEX_NAMES or name == "code":
            continue
        cells = _cells(table, columns, name).reset_index(drop=True)
        given = pd.DataFrame({"code": codes, "cell": cells, "row": vertices["row"]})
        given = given[given["cell"] != ""]
        first = given.groupby("code", sort=False).first()
        expected = given["code"].map(first["cell"])
        differs = (given["cell"] != expected).to_numpy()
        for i in np.flatnonzero(differs):
            code = given["code"].iat[i]
            report.add(
                Problem(
                    f"zone {code}: {header} differs between rows {first.at[code, 'row']} "
                    f"({first.at[code, 'cell']!r}) and {given['row'].iat[i]} "
                    f"({given['cell'].iat[i]!r}); give it once or the same on every row",
                    row=int(given["row"].iat[i]),
                    field=header,
                    value=given["cell"].iat[i],
                )
            )
        out[header] = [first["cell"].get(code, "") for code in out[columns.header("code")]]
    return pd.DataFrame(out, dtype=object)


def _zone_geometry(
    code: str, vertices: pd.DataFrame, naming: str, columns: ColumnMap, report: ImportReport
) -> BaseGeometry | None:
    """The zone's (multi)polygon from its rings, or None with problems."""
    parts: list[Polygon] = []
    for part, part_rows in vertices.groupby("part", sort=True):
        where = f"zone {code}" + (f" part {part}" if naming or part != 1 else "")
        rings = {
            int(ring): _ring(f"{where} ring {ring}", group.sort_values("vertex"), columns, report)
            for ring, group in part_rows.groupby("ring", sort=True)
        }
        if any(xy is None for xy in rings.values()):
            continue
        if 1 not in rings:  # only possible with a ring column
            report.add(
                Problem(
                    f"{where} has no ring 1 (its outer boundary)",
                    row=int(part_rows["row"].min()),
                    field=columns.header("ring"),
                )
            )
            continue
        polygon = Polygon(rings[1], [xy for number, xy in rings.items() if number != 1])
        if not polygon.is_valid:
            report.add(
                Problem(
                    f"{where}: its holes do not fit in its outer ring "
                    f"({shapely.is_valid_reason(polygon)})",
                    row=int(part_rows["row"].min()),
                    field=columns.header("vertex"),
                )
            )
            continue
        parts.append(polygon)
    if not parts:
        return None
    geometry = MultiPolygon(parts)
    if not geometry.is_valid:
        report.note(f"zone {code}: its parts overlap and were merged")
        geometry = shapely.union_all(parts)
    return geometry


def _ring(
    where: str, ring: pd.DataFrame, columns: ColumnMap, report: ImportReport
) -> np.ndarray | None:
    """The ring's coordinates when it is numbered, closed and simple; else None (problems)."""
    header = columns.header("vertex")
    numbers, rows = ring["vertex"].to_numpy(), ring["row"].to_numpy()
    wrong = np.flatnonzero(numbers != np.arange(1, len(numbers) + 1))
    if len(wrong):
        i = int(wrong[0])
        found = (
            f"after vertex {numbers[i - 1]} (row {rows[i - 1]}) comes vertex {numbers[i]}"
            if i
            else f"the first vertex is number {numbers[i]}"
        )
        report.add(
            Problem(
                f"{where}: vertices must be numbered 1, 2, 3… without gaps or "
                f"repeats; {found} (row {rows[i]})",
                row=int(rows[i]),
                field=header,
                value=str(numbers[i]),
            )
        )
        return None
    if len(numbers) < 4:
        report.add(
            Problem(
                f"{where} has only {len(numbers)} vertices; a ring needs at least 4, "
                "the last repeating the first",
                row=int(rows[-1]),
                field=header,
                value=str(numbers[-1]),
            )
        )
        return None
    xy = ring[["lon", "lat"]].to_numpy(dtype=float, copy=True)
    gap = _metres(xy[0], xy[-1])
    if gap > CLOSE_TOLERANCE_M:
        first, last = ring.iloc[0], ring.iloc[-1]
        report.add(
            Problem(
                f"{where} does not close: vertex 1 ({first.lon_text}, {first.lat_text}) and vertex "
                f"{numbers[-1]} ({last.lon_text}, {last.lat_text}) differ by {gap:,.1f} m; repeat "
                "the first vertex at the end",
                row=int(rows[-1]),
                field=header,
                value=str(numbers[-1]),
            )
        )
        return None
    xy[-1] = xy[0]
    crossing = first_crossing(xy)
    if crossing is not None:
        (a, b), (c, d) = crossing
        report.add(
            Problem(
                f"{where} crosses itself: the edge from vertex {numbers[a]} to vertex {numbers[b]} "
                f"(rows {rows[a]}–{rows[b]}) meets the edge from vertex {numbers[c]} to vertex "
                f"{numbers[d]} (rows {rows[c]}–{rows[d]})",
                row=int(rows[c]),
                field=header,
                value=str(numbers[c]),
            )
        )
        return None
    return xy


def _metres(a: np.ndarray, b: np.ndarray) -> float:
    """Approximate distance between two lon/lat points (equirectangular; fine below 1 km)."""
    dx = (b[0] - a[0]) * np.cos(np.radians((a[1] + b[1]) / 2))
    return float(np.hypot(dx, b[1] - a[1]) * _METRES_PER_DEGREE)


def first_crossing(xy: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The first pair of edges of a closed ring (`xy[0] == xy[-1]`) that cross or touch other
    than where neighbours join, as ((i, j), (k, l)) vertex indices into `xy`; None when the ring
    is simple. Repeated consecutive vertices are ignored; edges are found with an STRtree."""
    keep = np.r_[True, np.any(xy[1:] != xy[:-1], axis=1)]
    index = np.flatnonzero(keep)
    points = xy[keep]
    count = len(points) - 1
    if count < 3:
        return None
    edges = shapely.linestrings(np.stack([points[:-1], points[1:]], axis=1))
    left, right = shapely.STRtree(edges).query(edges, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    adjacent = (right - left == 1) | ((left == 0) & (right == count - 1))
    meeting = shapely.intersection(edges[left], edges[right])
    crossing = ~adjacent | (shapely.get_type_id(meeting) != 0)  # neighbours may share a point
    if not crossing.any():
        return None
    order = np.lexsort((right[crossing], left[crossing]))[0]
    i, k = int(left[crossing][order]), int(right[crossing][order])
    return (int(index[i]), _next(index, i)), (int(index[k]), _next(index, k))


def _next(index: np.ndarray, edge: int) -> int:
    """The original index of the vertex that ends edge `edge` (repeats skipped)."""
    return int(index[edge + 1])

"""The zones import: GeoPackage (projected CGCS2000), zipped Shapefiles with GBK attributes (with
and without .cpg, without .prj), GeoJSON, re-imports and new versions, attribute problems, and
corner-point tables (DMS, holes, unclosed, self-crossing and badly numbered rings)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import text

from geo.clock import FixedClock
from geo.coords import InputCRS
from geo.errors import ValidationError
from geo.imports.base import ImportReport, ImportSource
from geo.imports.corner_points import first_crossing, read_corner_points
from geo.imports.gisfiles import TABLE, file_format
from geo.imports.tables import RawTable, read_table
from geo.imports.zone_columns import CORNER_ZONE_COLUMNS
from geo.imports.zones import ZoneImporter, stage_zones
from geo.screening import Scope
from geo.settings import ImportSettings
from geo.zones import zone_versions
from tests.factories import add_region

TODAY = date(2026, 11, 24)
IMPORTER = ZoneImporter(FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC)))
# Inside the test province (106–106.1 E, 29–29.1 N, tests.factories.SQUARE).
SQUARE = Polygon([(106.02, 29.02), (106.04, 29.02), (106.04, 29.04), (106.02, 29.04)])
OTHER = Polygon([(106.05, 29.05), (106.07, 29.05), (106.07, 29.07), (106.05, 29.07)])
HEADERS = ("编码", "名称", "类型", "级别", "批复文号", "批复日期")
ZONE_A = (
    "SY-01",
    "长江饮用水水源一级保护区",
    "饮用水水源保护区",
    "一级",
    "渝府〔2024〕12号",
    "2024-03-01",
)
ZONE_B = ("GK-02", "江津区重点管控单元", "环境管控单元", "重点管控", "", "")


def frame(rows: list[tuple], geometries: list, crs: int = 4490) -> gpd.GeoDataFrame:
    """Zones as a GeoDataFrame with the Chinese headers, in `crs` (given in lon/lat)."""
    data = pd.DataFrame(rows, columns=list(HEADERS))
    return gpd.GeoDataFrame(data, geometry=geometries, crs=4490).to_crs(crs)


def shapefile_zip(tmp_path: Path, gdf: gpd.GeoDataFrame, *, drop: tuple[str, ...] = ()) -> bytes:
    """The GeoDataFrame as a zipped GBK Shapefile (with .cpg), without the `drop` companions."""
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    gdf.to_file(folder / "zones.shp", engine="pyogrio", encoding="GBK")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            if path.suffix not in drop:
                archive.write(path, f"保护区/{path.name}")
    return buffer.getvalue()


def geopackage(tmp_path: Path, gdf: gpd.GeoDataFrame, name: str = "zones.gpkg") -> bytes:
    """The GeoDataFrame as a one-layer GeoPackage."""
    path = tmp_path / name
    gdf.to_file(path, driver="GPKG", layer="zones", engine="pyogrio")
    return path.read_bytes()


def check(session, data: bytes, filename: str, crs: InputCRS | None = None):
    """Check a file: (report, staged)."""
    source = ImportSource(data, filename, ImportSettings(), crs=crs)
    report = ImportReport("zones", filename, dry_run=False)
    return report, IMPORTER.check(session, source, report)


def run(session, data: bytes, filename: str, crs: InputCRS | None = None):
    """As the import runner does: check, then write only when there is no problem."""
    report, staged = check(session, data, filename, crs)
    scope = IMPORTER.write(session, staged, report) if report.ok else None
    return report, scope


def snapshot(session) -> list[tuple]:
    """Everything about every stored zone version."""
    return session.execute(
        text(
            "SELECT code, version, name, kind::text, grade, approval_doc, approved_on, "
            "valid_from, valid_to, source, ST_AsEWKB(geom) FROM zones ORDER BY code, version"
        )
    ).all()


def messages(report: ImportReport) -> str:
    """All problems, one per line."""
    return "\n".join(problem.describe() for problem in report.problems)


@pytest.fixture(autouse=True)
def province(session) -> None:
    """The test province (Chongqing, a 0.1° square) and one county."""
    add_region(session)


# ---- GIS files ---------------------------------------------------------------------------


def test_geopackage_in_gauss_kruger_lands_at_the_right_lon_lat(session, tmp_path):
    data = geopackage(tmp_path, frame([ZONE_A, ZONE_B], [SQUARE, OTHER], crs=4545))
    report, scope = run(session, data, "zones.gpkg")
    assert report.ok, messages(report)
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (2, 2, 0, 0)
    assert scope == Scope(zone_codes=("SY-01", "GK-02"))
    assert any("3-degree Gauss-Kruger CM 108E" in note for note in report.notes)
    row = session.execute(
        text(
            "SELECT name, kind::text, grade, approval_doc, approved_on, valid_from, version, "
            "ST_AsBinary(geom) AS wkb FROM zones WHERE code = 'SY-01'"
        )
    ).one()
    assert row[:7] == (
        ZONE_A[1],
        "water_protection",
        "I",
        ZONE_A[4],
        date(2024, 3, 1),
        date(2024, 3, 1),
        1,
    )
    stored = shapely.from_wkb(row.wkb)
    assert stored.geom_type == "MultiPolygon"
    assert shapely.hausdorff_distance(stored, SQUARE) < 1e-8
    grade = session.execute(text("SELECT grade, valid_from FROM zones WHERE code = 'GK-02'")).one()
    assert grade == ("key", TODAY)  # no approval date: starts today


def test_gbk_shapefile_with_cpg(session, tmp_path):
    data = shapefile_zip(tmp_path, frame([ZONE_A], [SQUARE]))
    assert file_format(data) == "Shapefile"
    report, _ = run(session, data, "zones.zip")
    assert report.ok, messages(report)
    assert session.execute(text("SELECT name FROM zones")).scalar_one() == ZONE_A[1]


def test_gbk_shapefile_without_cpg_is_read_as_gbk(session, tmp_path):
    data = shapefile_zip(tmp_path, frame([ZONE_A], [SQUARE]), drop=(".cpg",))
    report, _ = run(session, data, "zones.zip")
    assert report.ok, messages(report)
    assert session.execute(text("SELECT name, approval_doc FROM zones")).one() == (
        ZONE_A[1],
        ZONE_A[4],
    )
    assert any("GBK" in note for note in report.notes)


def test_shapefile_without_prj_is_refused_and_nothing_written(session, tmp_path):
    run(session, geopackage(tmp_path, frame([ZONE_B], [OTHER])), "before.gpkg")
    before = snapshot(session)
    data = shapefile_zip(tmp_path, frame([ZONE_A], [SQUARE]), drop=(".prj",))
    report, scope = run(session, data, "zones.zip")
    assert not report.ok and scope is None
    assert "has no .prj: its coordinate system is unknown" in report.problems[0].message
    assert snapshot(session) == before


def test_shapefile_without_prj_is_read_in_a_crs_the_user_names(session, tmp_path):
    data = shapefile_zip(tmp_path, frame([ZONE_A], [SQUARE]), drop=(".prj",))
    report, _ = run(session, data, "zones.zip", crs=InputCRS.CGCS2000)
    assert report.ok, messages(report)
    assert report.inserted == 1


def test_projected_file_with_a_crs_named_is_refused(session, tmp_path):
    data = geopackage(tmp_path, frame([ZONE_A], [SQUARE], crs=4545))
    report, _ = check(session, data, "zones.gpkg", crs=InputCRS.GCJ02)
    assert "projected CRS" in messages(report)


def test_geojson_with_english_headers(session):
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": "NR-1",
                    "name": "缙云山自然保护区",
                    "kind": "nature_reserve",
                    "grade": "核心区",
                    "approved_on": "2023年5月6日",
                },
                "geometry": shapely.geometry.mapping(SQUARE),
            }
        ],
    }
    report, _ = run(session, json.dumps(collection, ensure_ascii=False).encode(), "nr.geojson")
    assert report.ok, messages(report)
    assert session.execute(text("SELECT kind::text, grade, approved_on FROM zones")).one() == (
        "nature_reserve",
        "core",
        date(2023, 5, 6),
    )


def test_geojson_legacy_crs_member_is_honoured(session):
    projected = gpd.GeoSeries([SQUARE], crs=4490).to_crs(4545).iloc[0]
    collection = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4545"}},
        "features": [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(projected),
                "properties": dict(zip(HEADERS, ZONE_A, strict=True)),
            }
        ],
    }
    report, _ = run(session, json.dumps(collection).encode(), "zones.json")
    assert report.ok, messages(report)
    stored = session.execute(text("SELECT ST_AsBinary(geom) FROM zones")).scalar_one()
    assert shapely.hausdorff_distance(shapely.from_wkb(stored), SQUARE) < 1e-8


def test_reimport_of_the_same_file_changes_nothing(session, tmp_path):
    data = geopackage(tmp_path, frame([ZONE_A, ZONE_B], [SQUARE, OTHER], crs=4545))
    run(session, data, "zones.gpkg")
    before = snapshot(session)
    report, scope = run(session, data, "zones.gpkg")
    assert report.ok, messages(report)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 2)
    assert scope == Scope()  # nothing to re-screen (the runner skips an empty scope)
    assert snapshot(session) == before


def test_changed_geometry_adds_a_version(session, tmp_path):
    run(
        session,
        geopackage(tmp_path, frame([ZONE_A, ZONE_B], [SQUARE, OTHER]), "v1.gpkg"),
        "v1.gpkg",
    )
    moved = shapely.affinity.translate(SQUARE, 0.001, 0)
    changed = frame([(*ZONE_A[:5], "2025-06-01"), ZONE_B], [moved, OTHER])
    report, scope = run(session, geopackage(tmp_path, changed, "v2.gpkg"), "v2.gpkg")
    assert report.ok, messages(report)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    assert scope == Scope(zone_codes=("SY-01",))
    versions = zone_versions(session, code="SY-01")
    assert [(v.version, v.valid_from, v.valid_to) for v in versions] == [
        (1, date(2024, 3, 1), date(2025, 6, 1)),
        (2, date(2025, 6, 1), None),
    ]


def test_changed_name_adds_a_version_starting_today(session, tmp_path):
    approved = (*ZONE_B[:5], "2025-01-01")
    run(session, geopackage(tmp_path, frame([approved], [OTHER]), "v1.gpkg"), "v1.gpkg")
    renamed = frame([("GK-02", "江津区重点管控单元（调整）", *approved[2:])], [OTHER])
    report, scope = run(session, geopackage(tmp_path, renamed, "v2.gpkg"), "v2.gpkg")
    assert report.ok and report.updated == 1 and scope == Scope(zone_codes=("GK-02",))
    assert zone_versions(session, code="GK-02")[-1].valid_from == TODAY
    again = frame([("GK-02", "江津区重点管控单元（再调整）", *approved[2:])], [OTHER])
    report, _ = run(session, geopackage(tmp_path, again, "v3.gpkg"), "v3.gpkg")
    assert "new version would start on 2026-11-24" in messages(report)  # twice in one day


def test_attribute_problems_are_reported_by_row_and_header(session, tmp_path):
    rows = [
        ("SY-01", "甲", "饮用水水源保护区", "核心区", "", ""),  # grade of another kind
        ("SY-02", "乙", "生态保护红线", "一级", "", ""),  # red lines have no grade
        ("SY-03", "丙", "水库", "", "", ""),  # unknown kind
        ("SY-04", "", "工业园区", "", "", "2024-13-45"),  # no name, bad date
        ("SY-04", "丁", "工业园区", "", "", ""),  # code again
    ]
    geometries = [SQUARE, SQUARE, SQUARE, SQUARE, OTHER]
    report, _ = check(session, geopackage(tmp_path, frame(rows, geometries)), "bad.gpkg")
    found = {(p.row, p.field) for p in report.problems}
    assert {
        (1, "级别"),
        (2, "级别"),
        (3, "类型"),
        (4, "名称"),
        (4, "批复日期"),
        (5, "编码"),
    } <= found
    text_ = messages(report)
    assert "核心区 is not a grade of a 饮用水水源保护区 (一级, 二级 or 准保护区)" in text_
    assert "a 生态保护红线 has no grade" in text_
    assert "zone SY-04 is in the file twice (first at row 4)" in text_


def test_zone_outside_the_province_and_empty_geometry(session, tmp_path):
    far = shapely.affinity.translate(SQUARE, 3, 3)
    gdf = frame([ZONE_A, ZONE_B], [far, None])
    report, _ = check(session, geopackage(tmp_path, gdf), "far.gpkg")
    text_ = messages(report)
    assert "zone SY-01 lies outside the province (重庆市)" in text_
    assert "zone GK-02 has no geometry" in text_


def test_self_intersecting_polygon_is_made_valid_with_a_note(session, tmp_path):
    bow_tie = Polygon([(106.02, 29.02), (106.04, 29.04), (106.04, 29.02), (106.02, 29.04)])
    report, _ = run(session, geopackage(tmp_path, frame([ZONE_A], [bow_tie])), "bow.gpkg")
    assert report.ok, messages(report)
    assert any(n.startswith("zone SY-01: polygon was self-intersecting") for n in report.notes)
    parts = session.execute(text("SELECT ST_NumGeometries(geom) FROM zones")).scalar_one()
    assert parts == 2


def test_shapefile_of_points_is_refused(session, tmp_path):
    gdf = frame([ZONE_A], [shapely.Point(106.03, 29.03)])
    report, _ = check(session, shapefile_zip(tmp_path, gdf), "points.zip")
    assert "is a Point, not a polygon" in messages(report)


# ---- corner-point tables -----------------------------------------------------------------

CORNER_HEADERS = ["保护区编码", "保护区名称", "类型", "级别", "环号", "点号", "经度", "纬度"]


def dms(degrees: float, hemisphere: str) -> str:
    """106.02 → 106°1′12.00″E."""
    whole = int(degrees)
    minutes = int((degrees - whole) * 60)
    seconds = (degrees - whole - minutes / 60) * 3600
    return f"{whole}°{minutes}′{seconds:.2f}″{hemisphere}"


def ring_rows(
    code: str,
    ring: int,
    points: list[tuple[float, float]],
    *,
    name: str = "甲水源",
    close: bool = True,
) -> list[list[str]]:
    """Vertex rows in DMS (the first vertex repeated at the end when `close`)."""
    points = [*points, points[0]] if close else points
    return [
        [code, name, "饮用水水源保护区", "一级", str(ring), str(i), dms(x, "E"), dms(y, "N")]
        for i, (x, y) in enumerate(points, start=1)
    ]


def raw_table(rows: list[list[str]], headers: list[str] = CORNER_HEADERS) -> RawTable:
    """A RawTable as read_table builds it (the header is row 1)."""
    return RawTable(pd.DataFrame(rows, columns=headers, dtype=object), np.arange(2, len(rows) + 2))


def corners(table: RawTable, crs: InputCRS | None = None):
    report = ImportReport("zones", "corners.csv", dry_run=False)
    return report, read_corner_points(table, CORNER_ZONE_COLUMNS, crs, report)


OUTER = [(106.02, 29.02), (106.04, 29.02), (106.04, 29.04), (106.02, 29.04)]
HOLE = [(106.028, 29.028), (106.028, 29.032), (106.032, 29.032), (106.032, 29.028)]


def test_corner_points_in_dms_with_a_hole(session):
    table = raw_table(ring_rows("SY-01", 1, OUTER) + ring_rows("SY-01", 2, HOLE))
    report, features = corners(table)
    assert report.ok, messages(report)
    (polygon,) = shapely.get_parts(features.geometries[0])
    assert np.allclose(shapely.get_coordinates(polygon.exterior)[:-1], OUTER, atol=1e-7)
    assert len(polygon.interiors) == 1
    assert features.rows.tolist() == [2]
    assert features.frame.iloc[0]["保护区名称"] == "甲水源"
    zones = stage_zones(session, features, CORNER_ZONE_COLUMNS, report, today=TODAY)
    assert report.ok and [z.action for z in zones] == ["insert"]


def test_corner_point_csv_in_gbk_through_the_importer(session):
    rows = ring_rows("SY-01", 1, OUTER)
    csv = ",".join(CORNER_HEADERS) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    data = csv.encode("gbk")
    assert file_format(data) == TABLE
    try:
        read_table(data, "corners.csv", limits=ImportSettings())
    except NotImplementedError:
        pytest.skip("geo.imports.tables.read_table is not written yet")
    report, scope = run(session, data, "corners.csv")
    assert report.ok, messages(report)
    assert report.rows == 5 and scope == Scope(zone_codes=("SY-01",))
    stored = session.execute(text("SELECT name, ST_AsBinary(geom) FROM zones")).one()
    assert stored[0] == "甲水源"
    assert shapely.hausdorff_distance(shapely.from_wkb(stored[1]), Polygon(OUTER)) < 1e-7


def test_corner_point_xlsx_with_parts_through_the_importer(session):
    from openpyxl import Workbook

    headers = ["区域编码", "名称", "类型", "部件号", "环号", "拐点序号", "经度", "纬度"]
    rows = []
    for part, ring in ((1, OUTER), (2, [(106.05, 29.05), (106.06, 29.05), (106.06, 29.06)])):
        closed = [*ring, ring[0]]
        rows += [
            ["HX-1", "红线甲", "生态保护红线", part, 1, i, x, y]
            for i, (x, y) in enumerate(closed, start=1)
        ]
    workbook = Workbook()
    workbook.active.append(headers)
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    report, scope = run(session, buffer.getvalue(), "redline.xlsx")
    assert report.ok, messages(report)
    assert scope == Scope(zone_codes=("HX-1",))
    parts = session.execute(text("SELECT ST_NumGeometries(geom), kind::text FROM zones")).one()
    assert parts == (2, "ecological_redline")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<?xml version="1.0"?><kml/>', "KML and other XML files are not imported"),
        (b"\x00\x00\x27\x0a" + bytes(96), "upload a Shapefile as a .zip"),
    ],
)
def test_refused_formats(session, data, message):
    with pytest.raises(ValidationError, match=message):
        check(session, data, "upload")


def test_unclosed_ring_names_zone_vertex_and_row(session):
    report, features = corners(raw_table(ring_rows("SY-01", 1, OUTER, close=False)))
    assert features is None
    (problem,) = report.problems
    assert problem.row == 5 and problem.field == "点号" and problem.value == "4"
    assert problem.message.startswith(
        "zone SY-01 ring 1 does not close: vertex 1 (106°1′12.00″E, 29°1′12.00″N) and vertex 4 "
        "(106°1′12.00″E, 29°2′24.00″N) differ by 2,2"
    )


def test_bow_tie_names_the_crossing_edges(session):
    bow_tie = [(106.02, 29.02), (106.04, 29.04), (106.04, 29.02), (106.02, 29.04)]
    report, _ = corners(raw_table(ring_rows("SY-01", 1, bow_tie)))
    (problem,) = report.problems
    assert problem.message == (
        "zone SY-01 ring 1 crosses itself: the edge from vertex 1 to vertex 2 (rows 2–3) meets "
        "the edge from vertex 3 to vertex 4 (rows 4–5)"
    )
    assert problem.row == 4


def test_vertices_must_be_numbered_without_gaps(session):
    rows = ring_rows("SY-01", 1, OUTER)
    rows[2][5] = "7"
    report, _ = corners(raw_table(rows))
    (problem,) = report.problems
    assert problem.row == 5 and problem.value == "4"
    assert "after vertex 2 (row 3) comes vertex 4 (row 5)" in problem.message


def test_too_few_vertices_and_disagreeing_names(session):
    rows = ring_rows("SY-01", 1, OUTER[:2]) + ring_rows("SY-02", 1, OUTER)
    rows[4][1] = "乙水源（另名）"
    report, _ = corners(raw_table(rows))
    text_ = messages(report)
    assert "zone SY-01 ring 1 has only 3 vertices" in text_
    assert "zone SY-02: 保护区名称 differs between rows 5 ('甲水源') and 6" in text_


def test_merged_cells_and_swapped_axes(session):
    rows = ring_rows("SY-01", 1, OUTER)
    for row in rows[1:]:
        row[0] = row[1] = row[2] = row[3] = row[4] = ""  # merged cells: only the first row
    report, features = corners(raw_table(rows))
    assert report.ok and features.frame.iloc[0]["类型"] == "饮用水水源保护区"
    swapped = [[*row[:6], row[7], row[6]] for row in ring_rows("SY-01", 1, OUTER)]
    report, _ = corners(raw_table(swapped))
    assert "经度 and 纬度 look swapped" in messages(report)


def test_corner_points_in_gcj02_are_converted(session):
    report, features = corners(raw_table(ring_rows("SY-01", 1, OUTER)), crs=InputCRS.GCJ02)
    assert report.ok
    west = shapely.get_coordinates(features.geometries[0])[0]
    assert 0.002 < 106.02 - west[0] < 0.01  # GCJ-02 is offset to the east by a few hundred m


def test_corner_table_may_update_an_existing_zone_by_code(session, tmp_path):
    run(session, geopackage(tmp_path, frame([ZONE_A], [SQUARE])), "v1.gpkg")
    headers = ["保护区编码", "点号", "经度", "纬度", "生效日期"]
    bigger = [(106.02, 29.02), (106.05, 29.02), (106.05, 29.04), (106.02, 29.04), (106.02, 29.02)]
    rows = [
        ["SY-01", str(i), str(x), str(y), "2026-01-01"] for i, (x, y) in enumerate(bigger, start=1)
    ]
    report = ImportReport("zones", "corners.csv", dry_run=False)
    features = read_corner_points(raw_table(rows, headers), CORNER_ZONE_COLUMNS, None, report)
    zones = stage_zones(session, features, CORNER_ZONE_COLUMNS, report, today=TODAY)
    assert report.ok, messages(report)
    (zone,) = zones
    assert (zone.action, zone.version, zone.name, zone.grade) == ("version", 2, ZONE_A[1], "I")
    new_report, new = corners(raw_table([["SY-09", "", "", "", "1", *r[1:4]] for r in rows]))
    assert stage_zones(session, new, CORNER_ZONE_COLUMNS, new_report, today=TODAY) == []
    assert "zone SY-09 is new: give its 保护区名称 and 类型" in messages(new_report)
    assert new_report.problems[0].row == 2


def test_first_crossing_ignores_repeated_vertices():
    square = np.array([(0, 0), (1, 0), (1, 0), (1, 1), (0, 1), (0, 0)], dtype=float)
    assert first_crossing(square) is None
    spike = np.array([(0, 0), (2, 0), (1, 0), (1, 1), (0, 0)], dtype=float)
    assert first_crossing(spike) == ((0, 1), (1, 2))


# ---- the whole run -----------------------------------------------------------------------


def test_run_import_rescreens_the_zones_it_changed(session, tmp_path):
    from geo.imports import run as runner

    data = geopackage(tmp_path, frame([ZONE_A], [SQUARE]))
    source = ImportSource(data, "zones.gpkg", ImportSettings())
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    report = runner.run_import(session, "zones", source, options=runner.ImportOptions(), now=now)
    assert report.inserted == 1 and report.run_id is not None
    assert report.screening is not None and "zones=1" in report.screening
    again = runner.run_import(session, "zones", source, options=runner.ImportOptions(), now=now)
    assert again.unchanged == 1 and again.screening is None


# ---- admin regions -----------------------------------------------------------------------

REGION_HEADERS = ["行政区划代码", "名称", "级别", "上级代码"]
CITY = Polygon([(106.0, 29.0), (106.05, 29.0), (106.05, 29.05), (106.0, 29.05)])


def regions_file(tmp_path: Path, rows: list[tuple], geometries: list, name: str) -> bytes:
    gdf = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=REGION_HEADERS), geometry=geometries, crs=4490
    )
    return geopackage(tmp_path, gdf, name)


def run_regions(session, data: bytes):
    from geo.imports.regions import RegionImporter

    importer = RegionImporter()
    report = ImportReport("regions", "regions.gpkg", dry_run=False)
    staged = importer.check(session, ImportSource(data, "regions.gpkg", ImportSettings()), report)
    scope = importer.write(session, staged, report) if report.ok else None
    return report, scope


def test_regions_are_upserted_by_code(session, tmp_path):
    rows = [("500117", "合川区", "区县", "500000"), ("500118", "永川区", "county", "500117")]
    report, scope = run_regions(session, regions_file(tmp_path, rows, [CITY, OTHER], "a.gpkg"))
    assert report.ok, messages(report)
    assert (report.inserted, report.updated, report.unchanged) == (2, 0, 0) and scope == Scope()
    renamed = [("500117", "合川区（新）", "区县", "500000"), rows[1]]
    report, _ = run_regions(session, regions_file(tmp_path, renamed, [CITY, OTHER], "b.gpkg"))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    assert session.execute(
        text("SELECT name, level::text, parent_code FROM admin_regions WHERE code = '500117'")
    ).one() == ("合川区（新）", "county", "500000")


def test_region_problems(session, tmp_path):
    rows = [
        ("5001", "甲", "区县", "500000"),  # short code
        ("500119", "乙", "区县", ""),  # no parent
        ("500120", "丙", "区县", "520000"),  # parent unknown
        ("510000", "丁", "省", "500000"),  # a province with a parent
    ]
    before = session.execute(text("SELECT count(*) FROM admin_regions")).scalar_one()
    report, _ = run_regions(session, regions_file(tmp_path, rows, [CITY] * 4, "bad.gpkg"))
    found = {(p.row, p.field) for p in report.problems}
    assert found == {(1, "行政区划代码"), (2, "级别"), (3, "上级代码"), (4, "上级代码")}, messages(
        report
    )
    assert session.execute(text("SELECT count(*) FROM admin_regions")).scalar_one() == before

"""The rivers import: a projected GeoPackage and a GBK Shapefile of lines, network nodes (shared
endpoints, numbering above stored nodes, reuse of a stored reach's node), re-imports (unchanged,
updated, reversed, deleted, a deletion refused for a referenced line) and the problems of lines
(not lines, no length, loops, outside the province, bad attributes)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Polygon
from sqlalchemy import text

from api.cli_imports import STEPS
from geo.imports.base import ImportRejectedError, ImportReport, ImportSource
from geo.imports.rivers import RiverImporter
from geo.imports.run import IMPORT_KINDS, ImportOptions, run_import
from geo.screening import Scope
from geo.settings import ImportSettings
from tests.factories import add_region

IMPORTER = RiverImporter()
# Inside the test province (106–106.1 E, 29–29.1 N, tests.factories.SQUARE): two tributaries
# meeting at (106.05, 29.05), each drawn downstream.
WEST = LineString([(106.02, 29.02), (106.03, 29.035), (106.05, 29.05)])
EAST = LineString([(106.08, 29.02), (106.065, 29.04), (106.05, 29.05)])
BELOW = LineString([(106.05, 29.05), (106.06, 29.07), (106.07, 29.09)])
HEADERS = ("河流名称", "河流等级", "干流")


def frame(rows: list[tuple], lines: list, crs: int = 4490) -> gpd.GeoDataFrame:
    """Lines as a GeoDataFrame with the Chinese headers, in `crs` (given in lon/lat)."""
    data = pd.DataFrame(rows, columns=list(HEADERS))
    return gpd.GeoDataFrame(data, geometry=lines, crs=4490).to_crs(crs)


def geopackage(tmp_path: Path, gdf: gpd.GeoDataFrame, name: str = "rivers.gpkg") -> bytes:
    """The GeoDataFrame as a one-layer GeoPackage."""
    path = tmp_path / name
    gdf.to_file(path, driver="GPKG", layer="rivers", engine="pyogrio")
    return path.read_bytes()


def shapefile_zip(tmp_path: Path, gdf: gpd.GeoDataFrame, *, drop: tuple[str, ...] = ()) -> bytes:
    """The GeoDataFrame as a zipped GBK Shapefile, without the `drop` companions."""
    folder = tmp_path / "shp"
    folder.mkdir(exist_ok=True)
    gdf.to_file(folder / "rivers.shp", engine="pyogrio", encoding="GBK")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            if path.suffix not in drop:
                archive.write(path, f"水系/{path.name}")
    return buffer.getvalue()


def geojson(features: list[tuple[dict, object]]) -> bytes:
    """A WGS84 GeoJSON FeatureCollection of (properties, geometry or None)."""
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": properties,
                    "geometry": None if geometry is None else shapely.geometry.mapping(geometry),
                }
                for properties, geometry in features
            ],
        },
        ensure_ascii=False,
    ).encode()


def run(session, data: bytes, filename: str, *, dry_run: bool = False):
    """As the import runner does: check, then write only when there is no problem."""
    source = ImportSource(data, filename, ImportSettings())
    report = ImportReport("rivers", filename, dry_run=dry_run)
    staged = IMPORTER.check(session, source, report)
    scope = IMPORTER.write(session, staged, report) if report.ok and not dry_run else None
    return report, scope


def rivers(session) -> list[tuple]:
    """Every stored river line: (id, name, from, to, order, main, source, EWKB)."""
    return session.execute(
        text(
            "SELECT id, name, from_node, to_node, stream_order, is_main, source,"
            " ST_AsEWKB(geom) FROM rivers ORDER BY id"
        )
    ).all()


def by_name(session) -> dict[str, tuple]:
    """name → (from_node, to_node, line)."""
    return {
        row.name: (row.from_node, row.to_node, shapely.from_wkb(bytes(row.wkb)))
        for row in session.execute(
            text("SELECT name, from_node, to_node, ST_AsBinary(geom) AS wkb FROM rivers")
        )
    }


def messages(report: ImportReport) -> str:
    """All problems, one per line."""
    return "\n".join(problem.describe() for problem in report.problems)


def add_river(session, line: LineString, from_node: int, to_node: int) -> int:
    """A stored reach from another source; returns its id."""
    return session.execute(
        text(
            "INSERT INTO rivers (name, from_node, to_node, stream_order, is_main, source, geom)"
            " VALUES ('綦江', :a, :b, 2, false, 'demo', ST_GeomFromText(:wkt, 4326)) RETURNING id"
        ),
        {"a": from_node, "b": to_node, "wkt": line.wkt},
    ).scalar_one()


def add_outfall(session, river_id: int) -> None:
    """A river outfall placed on the river `river_id`."""
    session.execute(
        text(
            "INSERT INTO river_outfalls (code, name, outfall_type, receiving_water, geom, river_id)"
            " VALUES ('500116G0001', '江津测试排污口', 'industrial', '东溪',"
            " ST_GeomFromText('POINT(106.03 29.035)', 4326), :river)"
        ),
        {"river": river_id},
    )


@pytest.fixture(autouse=True)
def province(session) -> None:
    """The test province (Chongqing, a 0.1° square) and one county."""
    add_region(session)


# ---- files and nodes ---------------------------------------------------------------------


def test_geopackage_in_gauss_kruger_two_lines_meet_at_one_node(session, tmp_path):
    gdf = frame([("东溪", 1, "否"), ("西溪", 1, "否")], [WEST, EAST], crs=4545)
    report, scope = run(session, geopackage(tmp_path, gdf), "rivers.gpkg")
    assert report.ok, messages(report)
    assert (report.rows, report.inserted, report.updated, report.unchanged) == (2, 2, 0, 0)
    assert scope == Scope()
    assert any("Gauss-Kruger" in note for note in report.notes)
    stored = by_name(session)
    (west_from, west_to, west), (east_from, east_to, east) = stored["东溪"], stored["西溪"]
    assert west_to == east_to  # the shared endpoint is one node
    assert len({west_from, west_to, east_from, east_to}) == 3
    assert {west_from, west_to, east_from} == {1, 2, 3}  # an empty table numbers from 1
    # directions as digitised: each line starts at its upstream end
    assert shapely.hausdorff_distance(west, WEST) < 1e-8
    assert west.coords[0] == pytest.approx(WEST.coords[0], abs=1e-8)
    assert east.coords[-1] == pytest.approx((106.05, 29.05), abs=1e-8)
    sources = session.execute(text("SELECT DISTINCT source FROM rivers")).scalars().all()
    assert sources == ["import:rivers.gpkg"]


def test_gbk_shapefile_without_cpg_with_names_orders_and_main_stem(session, tmp_path):
    gdf = frame([("綦江", 3, "是"), ("笋溪河", 2, "否")], [BELOW, WEST])
    report, _ = run(session, shapefile_zip(tmp_path, gdf, drop=(".cpg",)), "水系.zip")
    assert report.ok, messages(report)
    assert any("GBK" in note for note in report.notes)
    stored = session.execute(
        text("SELECT name, stream_order, is_main, source FROM rivers ORDER BY name")
    ).all()
    assert stored == [("笋溪河", 2, False, "import:水系.zip"), ("綦江", 3, True, "import:水系.zip")]


def test_multilinestring_parts_become_lines_and_blank_attributes_take_defaults(session):
    data = geojson([({"name": "", "stream_order": None}, MultiLineString([WEST, BELOW]))])
    report, _ = run(session, data, "multi.geojson")
    assert report.ok, messages(report)
    assert (report.rows, report.inserted) == (1, 2)
    stored = session.execute(
        text("SELECT name, from_node, to_node, stream_order, is_main FROM rivers ORDER BY id")
    ).all()
    assert stored == [(None, 1, 2, 1, False), (None, 2, 3, 1, False)]  # WEST flows into BELOW


def test_nodes_continue_above_stored_and_reuse_a_touching_stored_end(session):
    stored_id = add_river(session, BELOW, 40, 41)  # starts where WEST and EAST end
    far = LineString([(106.09, 29.08), (106.095, 29.085)])
    add_river(session, far, 7, 52)  # the largest stored node, away from the file's lines
    report, _ = run(
        session, geojson([({"name": "东溪"}, WEST), ({"name": "西溪"}, EAST)]), "x.json"
    )
    assert report.ok, messages(report)
    stored = by_name(session)
    assert stored["东溪"][:2] == (53, 40)  # reuses BELOW's upstream node
    assert stored["西溪"][:2] == (54, 40)
    assert any("2 new network node(s), numbered from 53" in note for note in report.notes)
    assert session.execute(
        text("SELECT from_node, to_node FROM rivers WHERE id = :id"), {"id": stored_id}
    ).one() == (40, 41)  # the stored reach is left alone


def test_without_a_province_lines_are_not_checked_against_it(session):
    session.execute(text("DELETE FROM admin_regions"))
    report, _ = run(session, geojson([({}, LineString([(107.0, 30.0), (107.1, 30.1)]))]), "r.json")
    assert report.ok, messages(report)
    assert any("no province boundary is loaded" in note for note in report.notes)


def test_through_the_runner_and_registry(session):
    assert "rivers" in IMPORT_KINDS
    steps: list[str] = []
    source = ImportSource(
        geojson([({"河流名称": "东溪"}, WEST)]),
        "r.geojson",
        ImportSettings(),
        progress=lambda step, done, total: steps.append(step),
    )
    now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    report = run_import(session, "rivers", source, options=ImportOptions(), now=now)
    assert (report.inserted, report.screening) == (1, None)
    assert session.execute(text("SELECT kind, rows FROM import_runs")).one() == ("rivers", 1)
    assert steps and set(steps) <= set(STEPS)  # every step is one the CLI's progress bar knows


# ---- re-imports --------------------------------------------------------------------------


def test_reimport_of_the_same_file_changes_nothing(session, tmp_path):
    data = geopackage(tmp_path, frame([("东溪", 1, "否"), ("西溪", 1, "否")], [WEST, EAST], 4545))
    run(session, data, "rivers.gpkg")
    before = rivers(session)
    report, _ = run(session, data, "rivers.gpkg")
    assert report.ok, messages(report)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 2)
    assert rivers(session) == before


def test_changed_name_is_updated_in_place(session):
    run(session, geojson([({"name": "东溪"}, WEST), ({"name": "西溪"}, EAST)]), "r.geojson")
    before = rivers(session)
    report, _ = run(
        session, geojson([({"name": "东溪河"}, WEST), ({"name": "西溪"}, EAST)]), "r.geojson"
    )
    assert report.ok, messages(report)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)
    after = rivers(session)
    assert after[0][1] == "东溪河" and after[0][:1] + after[0][2:] == before[0][:1] + before[0][2:]
    assert after[1] == before[1]


def test_line_drawn_the_other_way_keeps_its_nodes_swapped(session):
    run(session, geojson([({"name": "东溪"}, WEST)]), "r.geojson")
    (before,) = rivers(session)
    report, _ = run(session, geojson([({"name": "东溪"}, WEST.reverse())]), "r.geojson")
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 0)
    (after,) = rivers(session)
    assert (after[0], after[2], after[3]) == (before[0], before[3], before[2])
    line = shapely.from_wkb(bytes(after[7]))
    assert line.coords[0] == pytest.approx(WEST.coords[-1])


def test_line_dropped_from_the_file_is_deleted(session):
    run(session, geojson([({"name": "东溪"}, WEST), ({"name": "西溪"}, EAST)]), "r.geojson")
    other = add_river(session, BELOW, 40, 41)  # another source: not touched
    dry, _ = run(session, geojson([({"name": "东溪"}, WEST)]), "r.geojson", dry_run=True)
    assert any(
        "1 line of import:r.geojson not in the file would be deleted" in n for n in dry.notes
    )
    report, _ = run(session, geojson([({"name": "东溪"}, WEST)]), "r.geojson")
    assert report.ok, messages(report)
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 1)
    assert any("deleted 1 line" in note for note in report.notes)
    names = session.execute(
        text("SELECT name, id = :other FROM rivers ORDER BY id"), {"other": other}
    )
    assert names.all() == [("东溪", False), ("綦江", True)]


def test_dropping_a_line_an_outfall_references_is_refused(session):
    run(session, geojson([({"name": "东溪"}, WEST), ({"name": "西溪"}, EAST)]), "r.geojson")
    west_id = session.execute(text("SELECT id FROM rivers WHERE name = '东溪'")).scalar_one()
    add_outfall(session, west_id)
    before = rivers(session)
    report, scope = run(session, geojson([({"name": "西溪"}, EAST), ({}, BELOW)]), "r.geojson")
    assert not report.ok and scope is None
    assert report.problem_count == 1
    assert report.problems[0].message == (
        f"line {west_id} (东溪) of import:r.geojson is referenced by river outfall 500116G0001:"
        " keep it in the file or move the outfall first"
    )
    assert rivers(session) == before
    with pytest.raises(ImportRejectedError):  # the runner writes nothing either
        run_import(
            session, "rivers",
            ImportSource(geojson([({}, EAST)]), "r.geojson", ImportSettings()),
            options=ImportOptions(), now=datetime(2026, 11, 24, tzinfo=UTC),
        )  # fmt: skip
    assert rivers(session) == before


# ---- problems ----------------------------------------------------------------------------


def test_polygon_geopackage_layer_is_refused(session, tmp_path):
    square = Polygon([(106.02, 29.02), (106.04, 29.02), (106.04, 29.04), (106.02, 29.04)])
    report, _ = run(session, geopackage(tmp_path, frame([("湖", 1, "否")], [square])), "p.gpkg")
    assert "holds no layer of LineString or MultiLineString features" in messages(report)
    assert session.execute(text("SELECT count(*) FROM rivers")).scalar_one() == 0


def test_features_that_are_not_usable_lines_are_problems(session):
    square = Polygon([(106.02, 29.02), (106.04, 29.02), (106.04, 29.04), (106.02, 29.04)])
    loop = LineString([(106.02, 29.02), (106.03, 29.03), (106.02, 29.03), (106.02, 29.02)])
    data = geojson([
        ({"name": "ok"}, WEST),
        ({"name": "面"}, square),
        ({"name": "空"}, None),
        ({"name": "点"}, LineString([(106.03, 29.03), (106.03, 29.03)])),
        ({"name": "环"}, loop),
        ({"name": "外"}, LineString([(107.0, 30.0), (107.1, 30.1)])),
        ({"name": "重"}, WEST),
    ])  # fmt: skip
    report, _ = run(session, data, "bad.geojson")
    found = {(p.row, p.field): p.message for p in report.problems}
    assert report.problem_count == 6, messages(report)
    assert "not a line" in found[(2, "geometry")]
    assert "no geometry" in found[(3, "geometry")]
    assert "fewer than 2 distinct points" in found[(4, "geometry")]
    assert "starts and ends at one point" in found[(5, "geometry")]
    assert "entirely outside the province (重庆市)" in found[(6, "geometry")]
    assert "the same line as at row 1" in found[(7, "geometry")]
    assert session.execute(text("SELECT count(*) FROM rivers")).scalar_one() == 0


def test_bad_stream_order_and_main_stem_values(session):
    data = geojson([
        ({"级别": "0", "是否干流": "是"}, WEST),
        ({"级别": "二", "是否干流": "maybe"}, EAST),
        ({"级别": "2.5", "是否干流": "1"}, BELOW),
    ])  # fmt: skip
    report, _ = run(session, data, "bad.geojson")
    found = {(p.row, p.field, p.value) for p in report.problems}
    assert found == {
        (1, "级别", "0"),
        (2, "级别", "二"),
        (2, "是否干流", "maybe"),
        (3, "级别", "2.5"),
    }
    assert report.problem_count == 4

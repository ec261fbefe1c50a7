"""Layer exports: CSV (BOM, titled headers), XLSX (read back), GeoJSON, GeoPackage (read back
with pyogrio); the OGC filter path, the audience's fields, the row cap and bad parameters."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pyogrio
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.settings import DatabaseSettings, LayerSettings, Settings
from layers import export as export_module
from layers.declarations import Audience
from layers.registry import IN_FORCE_TODAY, LAYERS, UNITS
from tests.conftest import use_session
from tests.factories import COUNTY, credit_code
from tests.layer_fixtures import STAFF_MARKER, UNIT_CASES, build_world

STAFF = {"Authorization": "Bearer dev-staff-token"}
BOM = "\ufeff"
STAFF_TITLES = {f.title_zh for f in UNITS.fields if not f.public}


def export(client, layer_id: str, headers: dict | None = None, **params: str):
    response = client.get(f"/api/layers/{layer_id}/export", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response


def read_csv(response) -> list[list[str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    body = response.content.decode("utf-8")
    assert body.startswith(BOM)
    return list(csv.reader(io.StringIO(body[1:])))


def read_gpkg(response, tmp_path: Path, name: str = "export.gpkg"):
    """The GeoPackage's single layer as a GeoDataFrame, and its pyogrio info."""
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / name
    path.write_bytes(response.content)
    (layer,) = pyogrio.list_layers(path)[:, 0]
    return pyogrio.read_dataframe(path, layer=layer), pyogrio.read_info(path, layer=layer)


def sql_count(session: Session, where: str, source: str = "layer_units") -> int:
    return session.execute(text(f"SELECT count(*) FROM {source} WHERE {where}")).scalar_one()


def test_public_csv_has_public_fields_titled_in_chinese_and_lon_lat(client, session) -> None:
    build_world(session)
    response = export(client, "units")
    rows = read_csv(response)
    public = [f for f in UNITS.fields if f.public]
    assert rows[0] == [f.title_zh for f in public] + ["经度", "纬度"]
    assert len(rows) - 1 == sql_count(session, "true") == len(UNIT_CASES)
    assert not STAFF_TITLES & set(rows[0])
    assert STAFF_MARKER not in response.text
    assert all(len(row) == len(public) + 2 for row in rows)
    state = [f.name for f in public].index("permit_state")
    assert {row[state] for row in rows[1:]} == {"valid", "expiring", "expired", "revoked", "none"}
    valid = next(row for row in rows if row[1] == "测试单位valid")
    assert valid[-2:] == ["106.01", "29.01"] and valid[state] == "valid"
    disposition = response.headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"units.csv\"; filename*=UTF-8''" + quote("排污单位.csv")
    )


def test_staff_csv_has_staff_columns_and_english_titles(client, session) -> None:
    build_world(session)
    response = export(client, "units", headers=STAFF, lang="en")
    rows = read_csv(response)
    assert rows[0] == [f.title_en for f in UNITS.fields] + ["longitude", "latitude"]
    assert STAFF_MARKER in response.text
    statuses = {row[[f.name for f in UNITS.fields].index("enforcement_status")] for row in rows}
    assert "violation" in statuses
    assert quote("Pollutant discharge units.csv") in response.headers["content-disposition"]


@pytest.mark.parametrize(
    ("cql", "where"),
    [
        ("permit_state = 'valid'", "permit_state = 'valid'"),
        ("permit_state IN ('expired', 'revoked')", "permit_state IN ('expired', 'revoked')"),
        ("name LIKE '%单位v%'", "name LIKE '%单位v%'"),
        (
            "S_INTERSECTS(geometry, POLYGON((106 29, 106.045 29, 106.045 29.1, 106 29.1, 106 29)))",
            "ST_X(geom) <= 106.045",
        ),
    ],
)
def test_filtered_exports_hold_what_the_filter_matches_in_sql(
    client, session, tmp_path: Path, cql: str, where: str
) -> None:
    build_world(session)
    expected = sql_count(session, where)
    assert 0 < expected < len(UNIT_CASES)
    assert len(read_csv(export(client, "units", filter=cql))) - 1 == expected
    collection = export(client, "units", filter=cql, format="geojson").json()
    assert len(collection["features"]) == expected
    workbook = load_workbook(io.BytesIO(export(client, "units", filter=cql, format="xlsx").content))
    assert workbook.active.max_row - 1 == expected
    frame, info = read_gpkg(export(client, "units", filter=cql, format="gpkg"), tmp_path)
    assert len(frame) == info["features"] == expected


def test_xlsx_has_a_titled_sheet_bold_frozen_header_and_dates(client, session) -> None:
    build_world(session)
    response = export(client, "units", format="xlsx")
    assert response.headers["content-type"] == export_module.MEDIA_TYPES["xlsx"]
    assert 'filename="units.xlsx"' in response.headers["content-disposition"]
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["排污单位"]
    sheet = workbook["排污单位"]
    header = [c.value for c in sheet[1]]
    public = [f for f in UNITS.fields if f.public]
    assert header == [f.title_zh for f in public] + ["经度", "纬度"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row - 1 == len(UNIT_CASES)
    valid_to = [f.name for f in public].index("permit_valid_to")
    dates = [row[valid_to] for row in sheet.iter_rows(min_row=2) if row[valid_to].value]
    assert dates and all(c.is_date for c in dates)
    expected = session.execute(
        text("SELECT permit_valid_to FROM layer_units WHERE name = '测试单位valid'")
    ).scalar_one()
    by_name = {row[1].value: row for row in sheet.iter_rows(min_row=2)}
    assert by_name["测试单位valid"][valid_to].value.date() == expected
    assert by_name["测试单位valid"][-1].value == pytest.approx(29.01)


def test_staff_xlsx_of_flags_has_times_in_china_time(client, session) -> None:
    build_world(session)
    response = export(client, "flags", headers=STAFF, format="xlsx", lang="en")
    sheet = load_workbook(io.BytesIO(response.content))["Screening flags"]
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["ID", "feature type"] and header[-2:] == ["longitude", "latitude"]
    first_seen = header.index("first seen")
    cells = [row[first_seen] for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == sql_count(session, "true", "layer_flags")
    stored = session.execute(text("SELECT min(first_seen) FROM flags")).scalar_one()
    china = stored.astimezone(export_module.CHINA_TIME).replace(tzinfo=None)
    assert abs(min(c.value for c in cells) - china) < timedelta(milliseconds=1)


def test_geojson_is_a_feature_collection_of_the_audience_fields(client, session) -> None:
    build_world(session)
    response = export(client, "units", format="geojson")
    assert response.headers["content-type"] == "application/geo+json"
    assert 'filename="units.geojson"' in response.headers["content-disposition"]
    collection = response.json()
    assert collection["type"] == "FeatureCollection" and collection["name"] == "units"
    assert len(collection["features"]) == len(UNIT_CASES)
    public = {f.name for f in UNITS.fields_for(Audience.PUBLIC)}
    for feature in collection["features"]:
        assert set(feature["properties"]) == public
        assert feature["geometry"]["type"] == "Point"
    assert STAFF_MARKER not in response.text
    staff = export(client, "units", headers=STAFF, format="geojson").json()
    assert {"address", "enforcement_status"} <= set(staff["features"][0]["properties"])


def test_polygon_layers_export_without_lon_lat_and_in_force_zones_only(client, session) -> None:
    build_world(session)
    rows = read_csv(export(client, "zones_water_protection"))
    assert rows[0] == [f.title_zh for f in LAYERS["zones_water_protection"].fields]
    in_force = sql_count(session, f"kind = 'water_protection' AND {IN_FORCE_TODAY}", "layer_zones")
    assert len(rows) - 1 == in_force == 1
    every_version = export(client, "zones_water_protection", datetime="1900-01-01/..")
    assert len(read_csv(every_version)) - 1 == 2
    collection = export(client, "zones_water_protection", format="geojson").json()
    assert collection["features"][0]["geometry"]["type"] == "MultiPolygon"
    regions = read_csv(export(client, "admin_regions", lang="en"))  # keyed by a text code
    assert [row[0] for row in regions[1:]] == ["500000", "500116"]


def test_gpkg_has_a_layer_named_by_id_public_columns_typed_and_points(
    client, session, tmp_path: Path
) -> None:
    build_world(session)
    response = export(client, "units", format="gpkg")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"units.gpkg\"; filename*=UTF-8''" + quote("排污单位.gpkg")
    )
    frame, info = read_gpkg(response, tmp_path)
    public = [f.name for f in UNITS.fields_for(Audience.PUBLIC)]
    assert info["layer_name"] == "units" and info["crs"] == "EPSG:4326"
    assert list(info["fields"]) == public
    assert not {f.name for f in UNITS.fields if not f.public} & set(frame.columns)
    assert STAFF_MARKER.encode() not in response.content
    assert len(frame) == sql_count(session, "true") == len(UNIT_CASES)
    assert info["geometry_type"] == "Point" and set(frame.geometry.geom_type) == {"Point"}
    valid = frame[frame["name"] == "测试单位valid"].iloc[0]
    assert (valid.geometry.x, valid.geometry.y) == pytest.approx((106.01, 29.01))
    assert info["dtypes"][public.index("permit_valid_to")] == "datetime64[D]"  # an OGR Date
    expected = session.execute(
        text("SELECT permit_valid_to FROM layer_units WHERE name = '测试单位valid'")
    ).scalar_one()
    assert valid["permit_valid_to"].date() == expected
    with sqlite3.connect(tmp_path / "export.gpkg") as db:
        identifier, description = db.execute(
            "SELECT identifier, description FROM gpkg_contents WHERE table_name = 'units'"
        ).fetchone()
    assert identifier == "排污单位" and "permit_state: " in description
    staff, _ = read_gpkg(export(client, "units", headers=STAFF, format="gpkg"), tmp_path, "s.gpkg")
    assert {"address", "enforcement_status"} <= set(staff.columns)


def test_gpkg_of_polygons_and_of_times(client, session, tmp_path: Path) -> None:
    build_world(session)
    zones, info = read_gpkg(export(client, "zones_water_protection", format="gpkg"), tmp_path)
    in_force = sql_count(session, f"kind = 'water_protection' AND {IN_FORCE_TODAY}", "layer_zones")
    assert len(zones) == in_force == 1
    assert info["geometry_type"] == "MultiPolygon"
    assert set(zones.geometry.geom_type) == {"MultiPolygon"}
    response = export(client, "flags", headers=STAFF, format="gpkg")
    flags, _ = read_gpkg(response, tmp_path, "flags.gpkg")
    assert len(flags) == sql_count(session, "true", "layer_flags")
    stored = session.execute(text("SELECT min(first_seen) FROM flags")).scalar_one()
    first_seen = flags["first_seen"].min()
    first_seen = first_seen.tz_convert(None) if first_seen.tzinfo else first_seen
    utc = stored.astimezone(UTC).replace(tzinfo=None)
    assert abs(first_seen.to_pydatetime() - utc) < timedelta(milliseconds=1)


def test_gpkg_temporary_file_is_deleted(
    client, session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_world(session)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    export(client, "units", format="gpkg", filter="permit_state = 'none'")
    export(client, "units", format="gpkg", filter="name = 'no such unit'")  # an empty layer
    assert list(scratch.iterdir()) == []
    fields = UNITS.fields_for(Audience.PUBLIC)
    feature = json.dumps(
        {
            "type": "Feature",
            "id": 1,
            "geometry": {"type": "Point", "coordinates": [106, 29]},
            "properties": {},
        }
    )
    chunks = export_module.gpkg_chunks(UNITS, fields, "x", "zh", [[(feature,)]])
    assert next(chunks).startswith(b"SQLite format 3")
    assert len(list(scratch.iterdir())) == 1
    chunks.close()  # the client went away
    assert list(scratch.iterdir()) == []


@pytest.fixture
def many_units(session: Session) -> list[int]:
    """The world plus 40 more units, for exports of several pages."""
    build_world(session)
    session.execute(
        text("""
        INSERT INTO units (credit_code, name, industry_code, category, county_code, status, geom,
                           location_source)
        VALUES (:code, :name, '2614', 'registration', :county, 'operating',
                ST_SetSRID(ST_MakePoint(106.02, 29.03), 4326), 'reported')
    """),
        [
            {"code": credit_code(7000 + i), "name": f"分页单位{i}", "county": COUNTY}
            for i in range(40)
        ],
    )
    return list(session.execute(text("SELECT id FROM units ORDER BY id")).scalars())


def test_exports_read_every_page(
    client, many_units: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "PAGE_SIZE", 7)
    rows = read_csv(export(client, "units"))
    assert [int(row[0]) for row in rows[1:]] == many_units
    features = export(client, "units", format="geojson").json()["features"]
    assert [f["id"] for f in features] == many_units
    sheet = load_workbook(io.BytesIO(export(client, "units", format="xlsx").content)).active
    assert [row[0].value for row in sheet.iter_rows(min_row=2)] == many_units
    frame, _ = read_gpkg(export(client, "units", format="gpkg"), tmp_path)
    assert frame["id"].tolist() == many_units
    filtered = read_csv(export(client, "units", filter="category = 'registration'"))
    assert len(filtered) - 1 == 40


@pytest.fixture
def capped_client(db_url: str, session: Session) -> Iterator[TestClient]:
    settings = Settings(
        database=DatabaseSettings(database_url=db_url, db_warm_pool=False),
        layers=LayerSettings(export_max_rows=3),
    )
    app = create_app(settings)
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


def test_more_rows_than_the_cap_is_a_400(capped_client, session) -> None:
    build_world(session)
    response = capped_client.get("/api/layers/units/export")
    assert response.status_code == 400
    assert response.json()["field"] == "filter" and "3" in response.json()["title"]
    narrowed = capped_client.get(
        "/api/layers/units/export", params={"filter": "permit_state = 'expired'"}
    )
    assert narrowed.status_code == 200
    assert len(read_csv(narrowed)) - 1 == sql_count(session, "permit_state = 'expired'") == 2
    gpkg = capped_client.get("/api/layers/units/export", params={"format": "gpkg"})
    assert gpkg.status_code == 400 and gpkg.json()["field"] == "filter"


def test_settings_read_the_cap_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LayerSettings().export_max_rows == 1_000_000
    monkeypatch.setenv("PERMITMAP_EXPORT_MAX_ROWS", "25")
    assert LayerSettings().export_max_rows == 25


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "shp"}, "format"),
        ({"lang": "fr"}, "lang"),
        ({"filter": "name ="}, "filter"),
        ({"filter": "address IS NULL"}, "filter"),  # a staff field, asked by the public
        ({"filter": "nope = 1"}, "filter"),
        ({"filter": "name = 'x'", "filter-lang": "sql"}, "filter-lang"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"limit": "10"}, "limit"),
        ({"operating_status": "closed"}, "operating_status"),
    ],
)
def test_bad_parameters_are_400s_naming_them(client, session, params, field: str) -> None:
    build_world(session)
    response = client.get("/api/layers/units/export", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem.get("field") == field or field in problem["title"], problem
    assert STAFF_MARKER not in response.text


def test_staff_layers_are_403_for_the_public_and_unknown_layers_404(client, session) -> None:
    build_world(session)
    assert client.get("/api/layers/flags/export").status_code == 403
    assert client.get("/api/layers/nope/export").status_code == 404
    assert client.get("/api/layers/flags/export", headers=STAFF).status_code == 200


def test_values_a_spreadsheet_would_run_are_kept_as_text(client, session) -> None:
    build_world(session)
    session.execute(
        text("UPDATE units SET name = '=HYPERLINK(\"x\")' WHERE name = '测试单位valid'")
    )
    rows = read_csv(export(client, "units"))
    assert '\'=HYPERLINK("x")' in [row[1] for row in rows]
    sheet = load_workbook(io.BytesIO(export(client, "units", format="xlsx").content)).active
    cell = next(row[1] for row in sheet.iter_rows(min_row=2) if row[1].value.startswith("="))
    assert cell.data_type == "s"


def test_export_types_in_csv() -> None:
    pages = [[(1, True, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4), None, 1.5, "-x")]]
    body = b"".join(export_module.csv_chunks(["a"] * 7, pages)).decode("utf-8-sig")
    assert body.splitlines()[1] == "1,true,2026-01-02,2026-01-02T03:04:00,,1.5,'-x"
    assert json.loads(b"".join(export_module.geojson_chunks("x", [])))["features"] == []

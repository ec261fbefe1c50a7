"""Siting check: verdicts per zone and industry, overlaps and shares, repairs, coordinate systems,
bad input, the file formats, nearest protection zones and intakes, the access list, and that
nothing is written."""

import io
import json
import zipfile

import geopandas as gpd
import pyogrio
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box
from sqlalchemy import text

from geo.coords import InputCRS, wgs84_to_gcj02
from geo.crs import metric_crs_for
from geo.errors import ValidationError
from geo.geofiles import geometry_from_geojson, read_geometry
from geo.siting import SitingRequest, check_siting
from tests.factories import add_region

WPPCL = "《中华人民共和国水污染防治法》"
HEAVY, LIGHT, CHEMICAL = "2221", "1391", "2614"  # paper (heavy water polluter), starch, chemicals
ZONE_BOX = (106.02, 29.02, 106.04, 29.04)  # about 2 km across, inside the test province
HOLE_BOX = (106.028, 29.028, 106.032, 29.032)
INSIDE = Point(106.035, 29.035)
IN_HOLE = Point(106.03, 29.03)
M_PER_DEG_LON = 97_400  # metres per degree of longitude at 29.03° N
LIMIT = 1_000_000


def ewkt(*boxes: tuple[float, float, float, float], hole: tuple | None = None) -> str:
    polygons = [
        Polygon(box(*b).exterior.coords, [box(*hole).exterior.coords] if hole else [])
        for b in boxes
    ]
    return "SRID=4326;" + shapely.MultiPolygon(polygons).wkt


def add_zone(session, kind, grade, code, geom, parent_code=None, items=()) -> None:
    session.execute(
        text("""
        INSERT INTO zones (kind, grade, code, name, parent_code, geom, source, version, valid_from)
        VALUES (:kind, :grade, :code, :name, :parent, ST_GeomFromEWKT(:geom), 'test', 1,
                '2025-01-01')
    """),
        {
            "kind": kind,
            "grade": grade,
            "code": code,
            "name": f"{code}测试区",
            "parent": parent_code,
            "geom": geom,
        },
    )
    for dimension, requirement, banned in items:
        session.execute(
            text("""
            INSERT INTO access_list_items (zone_code, dimension, requirement, prohibited_industries)
            VALUES (:code, :dimension, :requirement, :banned)
        """),
            {"code": code, "dimension": dimension, "requirement": requirement, "banned": banned},
        )


def check(
    session, geometry, industry=LIGHT, *, crs="wgs84", media=("water",), project="new", **options
):
    request = SitingRequest(geometry, crs, industry, frozenset(media), project)
    return check_siting(session, request, **options)


def rule_codes(result) -> list[str]:
    return [rule.code for rule in result.rules]


@pytest.fixture
def region(session):
    add_region(session)  # province and county: the square 106–106.1 E, 29–29.1 N
    return session


# ---- verdicts -------------------------------------------------------------------------------


def test_point_in_grade_one_is_prohibited(region) -> None:
    add_zone(region, "water_protection", "I", "WS1-I", ewkt(ZONE_BOX, hole=HOLE_BOX), "WS1")
    result = check(region, INSIDE)
    assert result.verdict == "prohibited"
    # A project discharging water also puts its outlet there (Art. 64).
    assert rule_codes(result) == ["WP-OUTLET", "WP1-UNIT"]
    unit_rule = result.rules[1]
    assert unit_rule.legal_basis == f"{WPPCL}第六十五条"
    assert unit_rule.zone_codes == ["WS1-I"]
    assert result.rules[0].legal_basis == f"{WPPCL}第六十四条"
    assert [(z.code, z.kind, z.grade, z.share) for z in result.zones] == [
        ("WS1-I", "water_protection", "I", 1.0)
    ]
    assert result.nearest_protection_zones[0].distance_m == 0
    json.dumps(result.to_dict(), ensure_ascii=False)  # serialisable as it is


def test_point_in_a_hole_is_allowed(region) -> None:
    add_zone(region, "water_protection", "I", "WS1-I", ewkt(ZONE_BOX, hole=HOLE_BOX), "WS1")
    result = check(region, IN_HOLE)
    assert (result.verdict, result.rules, result.zones) == ("allowed", [], [])
    assert result.nearest_protection_zones[0].distance_m == pytest.approx(
        0.002 * M_PER_DEG_LON, rel=0.01
    )


@pytest.mark.parametrize(
    ("industry", "project", "verdict", "rules"),
    [
        (HEAVY, "new", "prohibited", ["WPQ-UNIT-NEW"]),
        (LIGHT, "new", "allowed", []),
        (HEAVY, "expansion", "prohibited", ["WPQ-UNIT-NEW", "WPQ-UNIT"]),
    ],
)
def test_quasi_zone_depends_on_industry(region, industry, project, verdict, rules) -> None:
    add_zone(region, "water_protection", "quasi", "WS1-Q", ewkt(ZONE_BOX))
    result = check(region, INSIDE, industry, project=project, media=("air",))
    assert result.verdict == verdict
    assert rule_codes(result) == rules
    assert result.heavy_water_polluter == (industry == HEAVY)
    if rules:
        assert result.rules[0].legal_basis == f"{WPPCL}第六十七条"


def test_water_discharge_in_any_protection_zone_is_prohibited(region) -> None:
    add_zone(region, "water_protection", "quasi", "WS1-Q", ewkt(ZONE_BOX))
    result = check(region, INSIDE, LIGHT, media=("water",))
    assert (result.verdict, rule_codes(result)) == ("prohibited", ["WP-OUTLET"])
    assert result.rules[0].legal_basis == f"{WPPCL}第六十四条"


def test_grade_two_binds_only_projects_that_discharge(region) -> None:
    add_zone(region, "water_protection", "II", "WS1-II", ewkt(ZONE_BOX))
    assert check(region, INSIDE, media=()).verdict == "allowed"
    discharging = check(region, INSIDE, media=("air",))
    assert (discharging.verdict, rule_codes(discharging)) == ("prohibited", ["WP2-UNIT"])


def test_media_may_be_a_comma_separated_string(region) -> None:
    add_zone(region, "water_protection", "II", "WS1-II", ewkt(ZONE_BOX))
    request = SitingRequest(INSIDE, "WGS-84", LIGHT, media="Water, air", project="expansion")
    result = check_siting(region, request)
    assert (result.media, result.project, result.verdict) == (
        ["air", "water"],
        "expansion",
        "prohibited",
    )
    assert (
        check_siting(region, SitingRequest(INSIDE, "wgs84", LIGHT, media="")).verdict == "allowed"
    )


def test_notice_alone_leaves_the_site_allowed(region) -> None:
    add_zone(region, "control_unit", "priority", "ZH50011610001", ewkt(ZONE_BOX))
    result = check(region, INSIDE, HEAVY)
    assert result.verdict == "allowed"
    assert [(r.code, r.severity) for r in result.rules] == [("CU-PRIORITY", "notice")]


# ---- geometry ---------------------------------------------------------------------------------


def test_polygon_straddling_two_zones(region) -> None:
    add_zone(region, "nature_reserve", "experimental", "ZR-exp", ewkt(ZONE_BOX))
    add_zone(region, "ecological_redline", None, "HX001", ewkt((106.04, 29.02, 106.06, 29.04)))
    result = check(region, box(106.03, 29.025, 106.05, 29.035))
    assert result.verdict == "prohibited"
    assert rule_codes(result) == ["RL-UNIT", "NR-EXP"]
    zones = {z.code: z for z in result.zones}
    assert set(zones) == {"ZR-exp", "HX001"}
    assert zones["ZR-exp"].share == pytest.approx(0.5, abs=1e-6)
    assert sum(z.share for z in result.zones) == pytest.approx(1.0, abs=1e-6)
    assert sum(z.overlap_area_m2 for z in result.zones) == pytest.approx(result.area_m2, abs=1)
    assert result.area_m2 == pytest.approx(0.02 * M_PER_DEG_LON * 0.01 * 110_900, rel=0.01)


def test_polygon_sharing_only_an_edge_is_not_in_the_zone(region) -> None:
    add_zone(region, "ecological_redline", None, "HX001", ewkt(ZONE_BOX))
    result = check(region, box(106.04, 29.02, 106.05, 29.03))
    assert (result.verdict, result.zones) == ("allowed", [])


def test_line_share_is_by_length(region) -> None:
    add_zone(region, "ecological_redline", None, "HX001", ewkt(ZONE_BOX))
    result = check(region, LineString([(106.03, 29.03), (106.05, 29.03)]))
    assert result.zones[0].share == pytest.approx(0.5, abs=1e-3)
    assert result.zones[0].overlap_length_m == pytest.approx(result.length_m / 2, rel=1e-3)


def test_self_intersecting_polygon_is_made_valid_and_said_so(region) -> None:
    add_zone(region, "ecological_redline", None, "HX001", ewkt(ZONE_BOX))
    bowtie = Polygon([(106.02, 29.02), (106.04, 29.04), (106.04, 29.02), (106.02, 29.04)])
    assert not bowtie.is_valid
    result = check(region, bowtie)
    assert any("self-intersecting" in note and "made valid" in note for note in result.notes)
    assert result.geometry["type"] == "MultiPolygon"
    assert result.area_m2 == pytest.approx(0.5 * 0.02 * M_PER_DEG_LON * 0.02 * 110_900, rel=0.01)
    assert result.zones[0].share == pytest.approx(1.0, abs=1e-6)


def test_gcj02_point_is_converted_before_the_check(region) -> None:
    add_zone(region, "water_protection", "I", "WS1-I", ewkt(ZONE_BOX))
    wgs = (ZONE_BOX[2] - 100 / M_PER_DEG_LON, 29.03)  # 100 m inside the east edge
    gcj = tuple(float(v) for v in wgs84_to_gcj02(*wgs))
    assert gcj[0] > ZONE_BOX[2] + 200 / M_PER_DEG_LON  # the GCJ-02 numbers lie outside
    as_gcj = check(region, Point(gcj), crs="gcj02")
    assert (as_gcj.verdict, as_gcj.input_crs) == ("prohibited", "gcj02")
    assert as_gcj.geometry["coordinates"] == pytest.approx(list(wgs), abs=1e-8)
    assert check(region, Point(gcj), crs=InputCRS.WGS84).verdict == "allowed"


@pytest.mark.parametrize(
    "geometry",
    [
        Point(),
        Polygon(),
        shapely.GeometryCollection(),
        geometry_from_geojson(
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None}]}
        ),
    ],
)
def test_empty_geometry_is_refused(region, geometry) -> None:
    with pytest.raises(ValidationError, match="empty") as caught:
        check(region, geometry)
    assert caught.value.field == "geometry"


def test_degenerate_polygon_is_refused(region) -> None:
    flat = Polygon([(106.02, 29.02), (106.03, 29.02), (106.04, 29.02), (106.02, 29.02)])
    with pytest.raises(ValidationError, match="degenerate") as caught:
        check(region, flat)
    assert caught.value.field == "geometry"


@pytest.mark.parametrize(
    ("geometry", "options", "message"),
    [
        (box(105.9, 28.9, 106.2, 29.2), {}, "more than the whole province"),
        (Point(110.0, 30.0), {}, "outside the province"),
        (box(106.0, 29.0, 106.05, 29.05), {"max_area_km2": 10.0}, "over the limit of 10.0 km²"),
        (Point(500_000, 3_200_000), {}, "longitude -180..180"),
    ],
)
def test_geometry_extent_is_checked(region, geometry, options, message) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        check(region, geometry, **options)
    assert caught.value.field == "geometry"


def test_partly_outside_the_province_is_noted(region) -> None:
    result = check(region, box(106.09, 29.05, 106.11, 29.06))
    assert result.notes == ["part of the geometry lies outside the province"]


# ---- other fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"industry": "9999"}, "industry_code"),
        ({"industry": "33A0"}, "industry_code"),
        ({"industry": ""}, "industry_code"),
        ({"crs": "EPSG:3857"}, "crs"),
        ({"media": ("water", "soil")}, "media"),
        ({"project": "relocation"}, "project"),
    ],
)
def test_bad_fields_are_named(region, changes, field) -> None:
    arguments = {"industry": LIGHT, "crs": "wgs84", "media": ("water",), "project": "new"}
    arguments.update(changes)
    industry = arguments.pop("industry")
    with pytest.raises(ValidationError) as caught:
        check(region, INSIDE, industry, **arguments)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}:")


# ---- nearest zones, intakes, access list ------------------------------------------------------


def test_nearest_protection_zones_and_intakes(region) -> None:
    # Two water sources, grade I and II each, east of the site at increasing distance.
    for source, west in (("WS1", 106.05), ("WS2", 106.07)):
        add_zone(
            region,
            "water_protection",
            "I",
            f"{source}-I",
            ewkt((west + 0.004, 29.02, west + 0.008, 29.04)),
            source,
        )
        add_zone(
            region,
            "water_protection",
            "II",
            f"{source}-II",
            ewkt((west, 29.02, west + 0.004, 29.04)),
            source,
        )
    add_zone(region, "water_protection", "quasi", "WS3-Q", ewkt((106.08, 29.08, 106.09, 29.09)))
    result = check(region, Point(106.04, 29.03))
    nearest = result.nearest_protection_zones
    assert [z.code for z in nearest] == ["WS1-II", "WS1-I", "WS2-II", "WS2-I", "WS3-Q"]
    assert [z.distance_m for z in nearest] == sorted(z.distance_m for z in nearest)
    assert nearest[0].distance_m == pytest.approx(0.01 * M_PER_DEG_LON, rel=0.01)
    intakes = result.nearest_intakes
    assert [(i.source_code, i.code) for i in intakes] == [("WS1", "WS1-I"), ("WS2", "WS2-I")]
    assert intakes[0].distance_m == pytest.approx(0.014 * M_PER_DEG_LON, rel=0.01)
    assert len(check(region, Point(106.04, 29.03), nearest_limit=2).nearest_protection_zones) == 2


def test_access_list_of_the_control_unit(region) -> None:
    items = [
        ("resource_efficiency", "新建项目单位产品水耗达到国内先进水平", []),
        ("spatial_layout", "禁止新建化工项目", ["26"]),
    ]
    add_zone(region, "control_unit", "key", "ZH50011620001", ewkt(ZONE_BOX), items=items)
    add_zone(
        region,
        "control_unit",
        "general",
        "ZH50011630001",
        ewkt((106.06, 29.06, 106.08, 29.08)),
        items=[("spatial_layout", "别处的要求", ["22"])],
    )
    chemical = check(region, INSIDE, CHEMICAL)
    assert (chemical.verdict, rule_codes(chemical)) == ("prohibited", ["CU-ACCESS"])
    [unit] = chemical.control_units
    assert (unit.code, unit.grade) == ("ZH50011620001", "key")
    assert [(i.dimension, i.prohibited_industries, i.applies) for i in unit.items] == [
        ("spatial_layout", ["26"], True),
        ("resource_efficiency", [], False),
    ]
    light = check(region, INSIDE, LIGHT)
    assert light.verdict == "allowed"
    assert [i.applies for i in light.control_units[0].items] == [False, False]


def test_nothing_is_written(region) -> None:
    add_zone(region, "water_protection", "I", "WS1-I", ewkt(ZONE_BOX), "WS1")
    add_zone(
        region,
        "control_unit",
        "key",
        "ZH50011620001",
        ewkt(ZONE_BOX),
        items=[("spatial_layout", "禁止新建化工项目", ["26"])],
    )
    tables = [
        "zones",
        "flags",
        "flag_events",
        "units",
        "zone_rules",
        "zone_rule_audit",
        "access_list_items",
        "screening_runs",
    ]
    count = "SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)
    before = region.execute(text(count)).one()
    check(region, box(106.03, 29.03, 106.05, 29.05), CHEMICAL)
    assert region.execute(text(count)).one() == before
    assert not region.new and not region.dirty


# ---- GeoJSON ----------------------------------------------------------------------------------

SQUARE = [[[106.03, 29.03], [106.035, 29.03], [106.035, 29.035], [106.03, 29.03]]]


def test_geojson_geometry_feature_and_collection() -> None:
    geometry = {"type": "Polygon", "coordinates": SQUARE}
    feature = {"type": "Feature", "properties": {"name": "厂址"}, "geometry": geometry}
    point = {
        "type": "Feature",
        "properties": None,
        "geometry": {"type": "Point", "coordinates": [106.0, 29.0, 250.0]},
    }
    collection = {
        "type": "FeatureCollection",
        "features": [feature, {"type": "Feature", "geometry": None}, point],
    }
    assert geometry_from_geojson(geometry).equals(Polygon(SQUARE[0]))
    assert geometry_from_geojson(feature).equals(Polygon(SQUARE[0]))
    combined = geometry_from_geojson(collection)
    assert combined.geom_type == "GeometryCollection"
    assert [g.geom_type for g in combined.geoms] == ["Polygon", "Point"]
    assert not combined.has_z


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([106, 29], "must be a GeoJSON object"),
        ({"coordinates": [106, 29]}, "has no 'type'"),
        ({"type": "Circle", "coordinates": [106, 29]}, "'Circle' is not a GeoJSON type"),
        ({"type": "Point"}, "has no 'coordinates'"),
        ({"type": "Point", "coordinates": "106,29"}, "must be an array"),
        ({"type": "Point", "coordinates": [[106, 29]]}, "must be a position"),
        ({"type": "Polygon", "coordinates": [[106, 29], [107, 29]]}, r"coordinates\[0\]\[0\]"),
        ({"type": "Point", "coordinates": [106, "29"]}, r"coordinates\[1\] '29' is not a number"),
        ({"type": "Point", "coordinates": [106, True]}, "is not a number"),
        ({"type": "Point", "coordinates": [106, float("nan")]}, "is not finite"),
        ({"type": "LineString", "coordinates": [[106, 29]]}, "only 1 position"),
        ({"type": "Polygon", "coordinates": [SQUARE[0][:3]]}, "fewer than 4 positions"),
        ({"type": "Polygon", "coordinates": [[*SQUARE[0][:3], [106.0, 29.0]]]}, "not closed"),
        ({"type": "Feature", "properties": {}}, "has no 'geometry'"),
        ({"type": "FeatureCollection", "features": {}}, "features must be an array"),
        ({"type": "FeatureCollection", "features": [{"type": "Point"}]}, r"features\[0\] must be"),
    ],
)
def test_invalid_geojson_is_explained(obj, message) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        geometry_from_geojson(obj)
    assert caught.value.field == "geometry"
    assert caught.value.message.startswith("geometry: invalid GeoJSON")


# ---- files ------------------------------------------------------------------------------------

SITE = box(106.03, 29.03, 106.035, 29.035)


def write_file(tmp_path, kind: str) -> tuple[bytes, str]:
    """The site (and a second feature) written in one of the upload formats."""
    frame = gpd.GeoDataFrame(
        {"name": ["厂址", "取水点"]}, geometry=[SITE, Point(106.0325, 29.0325)], crs=4326
    )
    if kind == "geojson":
        return frame.to_json().encode(), "site.geojson"
    if kind == "kml":
        pyogrio.write_dataframe(frame, tmp_path / "site.kml", driver="KML")
        return (tmp_path / "site.kml").read_bytes(), "site.kml"
    if kind in ("gpkg", "gpkg-4490", "gpkg-projected"):
        target = {"gpkg": 4326, "gpkg-4490": 4490}.get(kind, metric_crs_for(106.03))
        frame = frame.set_crs(4490, allow_override=True) if target == 4490 else frame.to_crs(target)
        pyogrio.write_dataframe(frame, tmp_path / "site.gpkg", driver="GPKG")
        return (tmp_path / "site.gpkg").read_bytes(), "site.GPKG"
    pyogrio.write_dataframe(frame.iloc[:1], tmp_path / "site.shp", driver="ESRI Shapefile")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in tmp_path.glob("site.*"):
            zipped.write(part, f"厂址/{part.name}")
    return archive.getvalue(), "site.zip"


@pytest.mark.parametrize(
    "kind", ["geojson", "kml", "shapefile", "gpkg", "gpkg-4490", "gpkg-projected"]
)
def test_file_round_trip(region, tmp_path, kind) -> None:
    data, name = write_file(tmp_path, kind)
    geometry = read_geometry(data, name, max_bytes=LIMIT)
    polygons = [g for g in shapely.get_parts(geometry) if g.geom_type == "Polygon"]
    assert len(polygons) == 1
    assert polygons[0].normalize().equals_exact(SITE.normalize(), tolerance=1e-7)
    add_zone(region, "water_protection", "I", "WS1-I", ewkt(ZONE_BOX), "WS1")
    result = check(region, geometry)
    assert result.verdict == "prohibited"
    assert result.zones[0].share == pytest.approx(1.0)
    assert result.area_m2 == pytest.approx(SITE.area * M_PER_DEG_LON * 110_900, rel=0.01)


def zip_of(**members: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, content in members.items():
            zipped.writestr(name.replace("_", "."), content)
    return archive.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"x" * (LIMIT + 1), "big.geojson", "over the limit of 1000000 bytes"),
        (b"<kml/>", "site.txt", "unsupported file type '.txt'"),
        (b"", "site.kml", "the file is empty"),
        (b'{"type": "Feature", ', "site.geojson", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "site.json", "not UTF-8"),
        (b'{"type": "Point", "coordinates": [1]}', "site.geojson", "file: invalid GeoJSON"),
        (b"SQLite format 3\x00 but not really", "site.gpkg", "cannot read the file"),
        (b"<kml><Document>", "site.kml", "cannot read the file"),
        (b"PK not a zip", "site.zip", "not a zip archive"),
        (zip_of(readme_txt=b"hello"), "site.zip", "holds no Shapefile"),
        (zip_of(site_shp=b"garbage"), "site.zip", "cannot read the file"),
        (zip_of(big_txt=b"0" * (LIMIT * 21)), "site.zip", "unpacks to more than"),
    ],
)
def test_bad_uploads_are_refused(data, name, message) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        read_geometry(data, name, max_bytes=LIMIT)
    assert caught.value.field == "file"


def test_file_without_features(tmp_path) -> None:
    frame = gpd.GeoDataFrame({"name": []}, geometry=[], crs=4326)
    pyogrio.write_dataframe(frame, tmp_path / "empty.gpkg", driver="GPKG")
    with pytest.raises(ValidationError, match="no feature with a geometry") as caught:
        read_geometry((tmp_path / "empty.gpkg").read_bytes(), "empty.gpkg", max_bytes=LIMIT)
    assert caught.value.field == "file"


def test_geojson_file_declaring_a_projected_crs_is_reprojected() -> None:
    epsg = metric_crs_for(106.03)
    projected = gpd.GeoSeries([SITE], crs=4326).to_crs(epsg)
    document = json.loads(projected.to_json())
    document["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
    geometry = read_geometry(json.dumps(document).encode(), "site.json", max_bytes=LIMIT)
    assert geometry.normalize().equals_exact(SITE.normalize(), tolerance=1e-7)

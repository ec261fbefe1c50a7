"""OGC API – Features under /ogc: documents, paging, bbox/datetime/property/CQL2 filters, CRS,
media types and every kind of bad input answered with a 400 naming the parameter."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from sqlalchemy import text

from layers.cql2_filter import CGCS2000, CRS84
from layers.ogc import CONFORMANCE
from tests.layer_fixtures import STAFF_MARKER, UNIT_CASES, build_world

STAFF = {"Authorization": "Bearer dev-staff-token"}
ITEMS = "/ogc/collections/units/items"


def items(client, query: str = "", headers: dict | None = None) -> dict:
    """GET items and parse the FeatureCollection."""
    response = client.get(f"{ITEMS}?{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    return response.json()


def ids(collection: dict) -> set[int]:
    """Feature ids of a FeatureCollection."""
    return {f["id"] for f in collection["features"]}


def test_landing_conformance_and_api_definition(client) -> None:
    landing = client.get("/ogc").json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert rels["service-desc"].endswith("/ogc/api")
    assert rels["conformance"].endswith("/ogc/conformance")
    assert rels["data"].endswith("/ogc/collections")
    assert client.get("/ogc/conformance").json()["conformsTo"] == list(CONFORMANCE)
    api = client.get("/ogc/api")
    assert api.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    assert api.json()["openapi"].startswith("3.0")


def test_collections_mirror_the_registry_per_audience(client, session) -> None:
    build_world(session)
    public = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert "flags" not in public and {"units", "outlets", "zones_water_protection"} <= set(public)
    assert CGCS2000 in public["units"]["crs"]
    staff = client.get("/ogc/collections", headers=STAFF).json()["collections"]
    assert "flags" in {c["id"] for c in staff}
    west, south, east, north = public["units"]["extent"]["spatial"]["bbox"][0]
    assert 106 <= west <= east <= 106.1 and 29 <= south <= north <= 29.1
    assert client.get("/ogc/collections/flags").status_code == 403
    assert client.get("/ogc/collections/nope").status_code == 404


def test_queryables_are_the_audience_fields(client) -> None:
    public = client.get("/ogc/collections/units/queryables")
    assert public.headers["content-type"] == "application/schema+json"
    names = set(public.json()["properties"])
    assert {"name", "permit_state", "geometry"} <= names and "enforcement_status" not in names
    staff = client.get("/ogc/collections/units/queryables", headers=STAFF).json()
    assert "enforcement_status" in staff["properties"]


def test_paging_walks_every_feature_once(client, session) -> None:
    world = build_world(session)
    seen: list[int] = []
    url = f"{ITEMS}?limit=3"
    while url:
        page = client.get(url).json()
        assert page["numberMatched"] == len(world.units)
        assert page["numberReturned"] == len(page["features"]) <= 3
        seen += [f["id"] for f in page["features"]]
        url = next((lnk["href"] for lnk in page["links"] if lnk["rel"] == "next"), None)
    assert sorted(seen) == sorted(world.units.values())
    last = items(client, "limit=3&offset=9")
    assert {lnk["rel"] for lnk in last["links"]} >= {"self", "prev", "alternate"}


def test_features_carry_public_fields_only(client, session) -> None:
    build_world(session)
    public = items(client, "limit=100")
    assert STAFF_MARKER not in json.dumps(public, ensure_ascii=False)
    assert "address" not in public["features"][0]["properties"]
    staff = items(client, "limit=100", STAFF)
    assert STAFF_MARKER in json.dumps(staff, ensure_ascii=False)


def test_bbox_in_crs84_and_cgcs2000(client, session) -> None:
    world = build_world(session)
    inside = {world.units[k] for k, x, y, *_ in UNIT_CASES if x < 106.045 and y < 29.02}
    assert ids(items(client, "bbox=106.0,29.0,106.045,29.02")) == inside
    swapped = f"bbox=29.0,106.0,29.02,106.045&bbox-crs={quote(CGCS2000)}"
    assert ids(items(client, swapped)) == inside
    assert ids(items(client, "bbox=106.0,29.0,0,106.045,29.02,100")) == inside


def test_output_crs_cgcs2000_lists_latitude_first(client, session) -> None:
    world = build_world(session)
    unit = world.units["valid"]
    response = client.get(f"{ITEMS}/{unit}?crs={quote(CGCS2000)}")
    assert response.headers["content-crs"] == f"<{CGCS2000}>"
    assert response.json()["geometry"]["coordinates"] == pytest.approx([29.01, 106.01])
    default = client.get(f"{ITEMS}/{unit}")
    assert default.headers["content-crs"] == f"<{CRS84}>"
    assert default.json()["geometry"]["coordinates"] == pytest.approx([106.01, 29.01])


def test_datetime_picks_zone_versions_and_permit_validity(client, session) -> None:
    world = build_world(session)
    zones = "/ogc/collections/zones_water_protection/items"
    assert ids(client.get(zones).json()) == {world.zone_now}
    assert ids(client.get(f"{zones}?datetime=2021-06-01").json()) == {world.zone_before}
    both = client.get(f"{zones}?datetime=2021-01-01/2026-01-01").json()
    assert ids(both) == {world.zone_now, world.zone_before}
    far_future = session.execute(text("SELECT current_date + 600")).scalar_one()
    valid_then = ids(items(client, f"datetime={far_future}&limit=100"))
    assert world.units["valid"] in valid_then and world.units["expiring"] not in valid_then
    assert world.units["none"] not in valid_then


def test_property_filters_are_typed(client, session) -> None:
    world = build_world(session)
    assert ids(items(client, "permit_state=revoked")) == {world.units["revoked"]}
    assert ids(items(client, f"id={world.units['closed']}")) == {world.units["closed"]}
    bad = client.get(f"{ITEMS}?id=abc")
    assert bad.status_code == 400 and bad.json()["field"] == "id"
    assert client.get(f"{ITEMS}?address=x").status_code == 400  # staff field, for the public
    assert items(client, "address=x", STAFF)["numberMatched"] == 0


def test_cql2_filters_text_and_json(client, session) -> None:
    world = build_world(session)
    text_filter = quote("permit_state IN ('expired','revoked') AND name LIKE '测试单位%'")
    expected = {world.units[k] for k in ("expired_by_date", "expired_status", "revoked")}
    assert ids(items(client, f"filter={text_filter}")) == expected
    spatial = quote("S_INTERSECTS(geometry, POLYGON((106.04 29.04,106.06 29.04,106.06 29.06,"
                    "106.04 29.06,106.04 29.04)))")  # fmt: skip
    assert ids(items(client, f"filter={spatial}")) == {
        world.units[k] for k in ("violation", "warning", "dismissed")
    }
    as_json = quote(json.dumps({"op": "=", "args": [{"property": "permit_state"}, "none"]}))
    assert ids(items(client, f"filter={as_json}&filter-lang=cql2-json")) == {world.units["none"]}
    staff_only = quote("enforcement_status = 'violation'")
    staff = ids(items(client, f"filter={staff_only}", STAFF))
    assert staff == {world.units["violation"], world.units["outlet_flag"]}


def test_a_client_filter_runs_under_the_statement_timeout(client, session) -> None:
    build_world(session)
    items(client, f"filter={quote('id > 0')}")
    timeout = session.execute(
        text("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
    ).scalar_one()
    assert int(timeout) == client.app.state.settings.layers.filter_timeout_ms


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1000000000", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=10,0,0,10", "bbox"),
        ("bbox=0,0,10,nan", "bbox"),
        ("bbox-crs=EPSG:3857&bbox=0,0,1,1", "bbox-crs"),
        ("bbox-crs=EPSG:4490", "bbox-crs"),
        ("crs=EPSG:4326", "crs"),
        ("datetime=yesterday", "datetime"),
        ("datetime=2026-01-01/2025-01-01", "datetime"),
        ("datetime=../..", "datetime"),
        ("filter=name%20%3D", "filter"),
        ("filter=secret%20%3D%201", "filter"),
        ("filter=enforcement_status%20%3D%20'valid'", "filter"),
        ("filter=pg_read_file('/etc/passwd')%20%3D%20'x'", "filter"),
        ("filter=current_setting('is_superuser')%20%3D%20'on'", "filter"),
        ("filter=name%20%3D%20'x'%3B%20DROP%20TABLE%20units", "filter"),
        ("filter-lang=sql&filter=id%3D1", "filter-lang"),
        ("filter-crs=EPSG:3857&filter=id%3D1", "filter-crs"),
        ("f=xml", "f"),
        ("id=1%20OR%201%3D1", "id"),
        ("sortby=name", "sortby"),
        ("limit=1;DROP%20TABLE%20units", "limit"),
    ],
)
def test_bad_parameters_are_400s_naming_the_parameter(client, query, field) -> None:
    response = client.get(f"{ITEMS}?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def test_injection_in_a_string_value_is_just_data(client, session) -> None:
    build_world(session)
    assert items(client, "name=x'%20OR%20'1'%3D'1")["numberMatched"] == 0
    quoted = quote("name = 'x'' OR ''1''=''1'")
    assert items(client, f"filter={quoted}")["numberMatched"] == 0
    assert session.execute(text("SELECT count(*) FROM units")).scalar_one() == len(UNIT_CASES)


def test_single_features_and_missing_ones(client, session) -> None:
    world = build_world(session)
    feature = client.get(f"{ITEMS}/{world.units['valid']}").json()
    assert feature["type"] == "Feature" and feature["properties"]["permit_state"] == "valid"
    assert {lnk["rel"] for lnk in feature["links"]} >= {"self", "collection"}
    assert client.get(f"{ITEMS}/999999").status_code == 404
    assert client.get(f"{ITEMS}/abc").status_code == 404
    region = client.get("/ogc/collections/admin_regions/items/500116").json()
    assert region["properties"]["level"] == "county"


def test_browsers_get_html(client, session) -> None:
    build_world(session)
    for path in ("/ogc", "/ogc/collections", "/ogc/collections/units", ITEMS):
        page = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = client.get(f"{ITEMS}?f=html&limit=100").text
    assert "测试单位valid" in html and STAFF_MARKER not in html
    assert client.get("/ogc/collections?f=json").headers["content-type"] == "application/json"

"""Adding and editing units, outlets and outfalls over HTTP: each write is screened in the same
request, bad values are problem details naming the field, nothing half-written."""

import pytest
from sqlalchemy import text

from tests.factories import add_region, credit_code
from tests.test_screening import add_zone

STAFF = {"Authorization": "Bearer dev-staff-token"}
UNIT = {
    "credit_code": credit_code(7),
    "name": "江津新建化工有限公司",
    "industry_code": "1391",
    "category": "key",
    "longitude": 106.035,
    "latitude": 29.035,
}


@pytest.fixture
def zoned(session):
    add_region(session)
    add_zone(session, "water_protection", "quasi", "SY-Q")
    return session


def _open_rules(client, feature_type: str) -> list[str]:
    flags = client.get(
        "/api/flags", headers=STAFF, params={"feature_type": feature_type, "status": "open"}
    ).json()
    return sorted(f["rule"] for f in flags["items"])


def test_a_new_unit_is_screened_at_once(client, zoned) -> None:
    added = client.post("/api/units", headers=STAFF, json={**UNIT, "industry_code": "2221"})
    assert added.status_code == 201, added.text
    assert added.json()["screening"]["detected"] == 1
    assert _open_rules(client, "unit") == ["WPQ-UNIT"]
    county = zoned.execute(text("SELECT county_code FROM units")).scalar_one()
    assert county == "500116"


def test_editing_industry_and_status_rescreens(client, zoned) -> None:
    unit_id = client.post("/api/units", headers=STAFF, json=UNIT).json()["id"]
    assert _open_rules(client, "unit") == []  # light industry: quasi zone does not bind it
    heavier = client.patch(f"/api/units/{unit_id}", headers=STAFF, json={"industry_code": "2221"})
    assert heavier.json()["screening"]["detected"] == 1
    closed = client.patch(f"/api/units/{unit_id}", headers=STAFF, json={"status": "closed"})
    assert closed.json()["screening"]["resolved"] == 1
    assert _open_rules(client, "unit") == []


def test_outlets_and_outfalls_are_screened_when_added(client, zoned) -> None:
    unit_id = client.post(
        "/api/units", headers=STAFF, json={**UNIT, "longitude": 106.09, "latitude": 29.09}
    ).json()["id"]
    outlet = client.post(
        f"/api/units/{unit_id}/outlets",
        headers=STAFF,
        json={
            "code": "DW001",
            "medium": "water",
            "kind": "main",
            "receiving_water": "长江",
            "longitude": 106.03,
            "latitude": 29.035,
        },
    )
    assert outlet.status_code == 201 and outlet.json()["screening"]["detected"] == 1
    outfall = client.post(
        "/api/river-outfalls",
        headers=STAFF,
        json={
            "code": "500116GX001",
            "name": "新建排污口",
            "outfall_type": "industrial",
            "receiving_water": "长江",
            "longitude": "106°2′6″E",
            "latitude": "29°2′6″N",
        },
    )
    assert outfall.status_code == 201 and outfall.json()["screening"]["detected"] == 1
    assert _open_rules(client, "outlet") == ["WP-OUTLET"]
    assert _open_rules(client, "river_outfall") == ["WP-OUTFALL"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"credit_code": "91500116MA5U7C12IO"}, 422, "credit_code"),
        ({"industry_code": "9999"}, 422, "industry_code"),
        ({"longitude": 120.0, "latitude": 40.0}, 422, "coordinates"),
        ({"crs": "EPSG:3857"}, 422, "crs"),
    ],
)
def test_bad_units_are_refused_and_nothing_is_written(client, zoned, change, status, field) -> None:
    response = client.post("/api/units", headers=STAFF, json={**UNIT, **change})
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert zoned.execute(text("SELECT count(*) FROM units")).scalar_one() == 0


def test_duplicate_site_is_a_conflict(client, zoned) -> None:
    assert client.post("/api/units", headers=STAFF, json=UNIT).status_code == 201
    again = client.post("/api/units", headers=STAFF, json=UNIT)
    assert again.status_code == 409
    assert zoned.execute(text("SELECT count(*) FROM units")).scalar_one() == 1


def test_outlet_code_must_match_medium_and_unit_must_exist(client, zoned) -> None:
    unit_id = client.post("/api/units", headers=STAFF, json=UNIT).json()["id"]
    wrong = client.post(
        f"/api/units/{unit_id}/outlets",
        headers=STAFF,
        json={"code": "DA001", "medium": "water", "longitude": 106.03, "latitude": 29.03},
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "code"
    missing = client.post(
        "/api/units/999999/outlets",
        headers=STAFF,
        json={"code": "DA001", "medium": "air", "longitude": 106.03, "latitude": 29.03},
    )
    assert missing.status_code == 404


def test_unknown_unit_fields_are_refused(client, zoned) -> None:
    unit_id = client.post("/api/units", headers=STAFF, json=UNIT).json()["id"]
    response = client.patch(f"/api/units/{unit_id}", headers=STAFF, json={"credit_code": "x"})
    assert response.status_code == 422
    assert (
        client.patch("/api/units/999999", headers=STAFF, json={"name": "新名字"}).status_code == 404
    )


ADMIN = {"Authorization": "Bearer dev-admin-token"}
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[106.01, 29.01], [106.05, 29.01], [106.05, 29.05], [106.01, 29.05], [106.01, 29.01]]
    ],
}
SMALL = {
    "type": "Polygon",
    "coordinates": [
        [[106.01, 29.01], [106.02, 29.01], [106.02, 29.02], [106.01, 29.02], [106.01, 29.01]]
    ],
}


def test_adding_a_zone_screens_what_it_touches(client, session) -> None:
    add_region(session)
    client.post("/api/units", headers=STAFF, json=UNIT)
    zone = {
        "kind": "ecological_redline",
        "code": "HX-NEW",
        "name": "新划红线",
        "source": "省政府批复",
        "valid_from": "2026-01-01",
        "geometry": SQUARE,
    }
    assert client.post("/api/zones", headers=STAFF, json=zone).status_code == 403
    added = client.post("/api/zones", headers=ADMIN, json=zone)
    assert added.status_code == 201, added.text
    assert _open_rules(client, "unit") == ["RL-UNIT"]
    shrunk = client.post(
        "/api/zones/HX-NEW/versions",
        headers=ADMIN,
        json={"geometry": SMALL, "valid_from": "2026-06-01"},
    )
    assert shrunk.status_code == 201 and shrunk.json()["version"] == 2
    flags = client.get("/api/flags", headers=STAFF, params={"status": "resolved"}).json()
    assert (
        flags["items"][0]["status_reason"] == "zone version 2 of HX-NEW no longer holds the feature"
    )


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"grade": "I"}, 422, "grade"),
        ({"geometry": {"type": "Point", "coordinates": [106.0, 29.0]}}, 422, "geometry"),
        ({"geometry": {"type": "Polygon"}}, 422, "geometry"),
    ],
)
def test_bad_zones_are_refused(client, session, change, status, field) -> None:
    zone = {
        "kind": "ecological_redline",
        "code": "HX-BAD",
        "name": "坏的红线",
        "source": "test",
        "valid_from": "2026-01-01",
        "geometry": SQUARE,
        **change,
    }
    response = client.post("/api/zones", headers=ADMIN, json=zone)
    assert response.status_code == status and response.json()["field"] == field, response.text
    assert session.execute(text("SELECT count(*) FROM zones")).scalar_one() == 0

"""Screening runs, flags and rules over HTTP: staff only, admins edit rules, problem details."""

import pytest
from sqlalchemy import text

from api.app import create_app
from geo.errors import SetupError
from geo.settings import AuthSettings, DatabaseSettings, Settings
from tests.factories import add_region
from tests.test_screening import add_feature, add_zone

STAFF = {"Authorization": "Bearer dev-staff-token"}
ADMIN = {"Authorization": "Bearer dev-admin-token"}


@pytest.fixture
def flagged(session):
    add_region(session)
    add_zone(session, "water_protection", "I")
    add_feature(session, "unit", 106.035, 29.035, "1391", serial=1)
    add_feature(session, "river_outfall", 106.034, 29.035, None, serial=2)
    return session


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/flags"),
        ("get", "/api/flags/summary"),
        ("post", "/api/screening/runs"),
        ("get", "/api/rules"),
        ("patch", "/api/flags/1"),
    ],
)
def test_anonymous_callers_get_401(client, method: str, path: str) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_unknown_token_is_refused(client) -> None:
    response = client.get("/api/flags", headers={"Authorization": "Bearer guessed"})
    assert (
        response.status_code == 401
        and response.json()["title"] == "the bearer token is not valid or has expired"
    )


def test_run_then_list_filter_page_and_summarise(client, flagged) -> None:
    run = client.post("/api/screening/runs", headers=STAFF, json={"near_boundary_m": 50})
    assert run.status_code == 201 and run.json()["detected"] == 2
    everything = client.get("/api/flags", headers=STAFF).json()
    assert everything["total"] == 2
    outfalls = client.get(
        "/api/flags",
        headers=STAFF,
        params={"feature_type": "river_outfall", "severity": "prohibited"},
    )
    [item] = outfalls.json()["items"]
    assert item["rule"] == "WP-OUTFALL" and item["legal_basis"].endswith("第六十四条")
    assert item["zone_version"] == 1 and item["status"] == "open"
    second_page = client.get("/api/flags", headers=STAFF, params={"page": 2, "page_size": 1})
    assert second_page.json()["total"] == 2 and len(second_page.json()["items"]) == 1
    [row] = client.get("/api/flags/summary", headers=STAFF).json()
    assert (row["county_code"], row["zone_kind"], row["prohibited"]) == (
        "500116",
        "water_protection",
        2,
    )


def test_bad_filters_are_problem_details(client) -> None:
    response = client.get("/api/flags", headers=STAFF, params={"severity": "awful", "page": 0})
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"query.severity", "query.page"}


def test_review_a_flag(client, flagged) -> None:
    client.post("/api/screening/runs", headers=STAFF)
    flag_id = client.get("/api/flags", headers=STAFF).json()["items"][0]["id"]
    no_reason = client.patch(f"/api/flags/{flag_id}", headers=STAFF, json={"status": "dismissed"})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    dismissed = client.patch(
        f"/api/flags/{flag_id}",
        headers=STAFF,
        json={"status": "dismissed", "reason": "已核实坐标有误"},
    )
    assert dismissed.status_code == 200
    assert (dismissed.json()["status"], dismissed.json()["reviewer"]) == ("dismissed", "dev-staff")
    assert (
        client.patch("/api/flags/999999", headers=STAFF, json={"status": "confirmed"}).status_code
        == 404
    )


def test_resolved_flags_cannot_be_reviewed(client, flagged) -> None:
    client.post("/api/screening/runs", headers=STAFF)
    flagged.execute(text("UPDATE units SET geom = ST_SetSRID(ST_MakePoint(106.08, 29.08), 4326)"))
    client.post("/api/screening/runs", headers=STAFF)
    resolved = client.get("/api/flags", headers=STAFF, params={"status": "resolved"}).json()
    response = client.patch(
        f"/api/flags/{resolved['items'][0]['id']}", headers=STAFF, json={"status": "confirmed"}
    )
    assert response.status_code == 409


def test_rules_are_read_by_staff_and_changed_by_admins_with_audit(client) -> None:
    rules = client.get("/api/rules", headers=STAFF).json()
    assert {r["code"] for r in rules} >= {"WP-OUTFALL", "WP1-UNIT", "RL-UNIT", "CU-ACCESS"}
    change = {"severity": "restricted", "legal_basis": "《示例》第一条"}
    assert client.patch("/api/rules/WPQ-UNIT", headers=STAFF, json=change).status_code == 403
    changed = client.patch("/api/rules/WPQ-UNIT", headers=ADMIN, json=change)
    assert changed.status_code == 200 and changed.json()["legal_basis"] == "《示例》第一条"
    audit = client.get("/api/rules/WPQ-UNIT/audit", headers=STAFF).json()
    assert [(a["action"], a["changed_by"]) for a in audit] == [
        ("insert", "migration 0003"),
        ("update", "dev-admin"),
    ]
    assert audit[1]["before"]["legal_basis"].endswith("第六十七条")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"owner": "x"}, 422, "body.owner"),
        ({"industry_codes": ["9999"]}, 422, "industry_codes"),
        ({"severity": "fatal"}, 422, "body.severity"),
    ],
)
def test_bad_rule_changes(client, body, status, field) -> None:
    response = client.patch("/api/rules/WP1-UNIT", headers=ADMIN, json=body)
    assert response.status_code == status
    problem = response.json()
    assert field in ({e["field"] for e in problem.get("errors", [])} | {problem.get("field")})


def test_unknown_rule_is_404(client) -> None:
    assert client.patch("/api/rules/NOPE", headers=ADMIN, json={"active": False}).status_code == 404


def test_production_refuses_default_tokens() -> None:
    settings = Settings(
        database=DatabaseSettings(database_url="postgresql://x@/y"),
        auth=AuthSettings(environment="production"),
    )
    with pytest.raises(SetupError, match="must be set to real tokens"):
        create_app(settings)


def test_moving_a_unit_rescreens_it_in_the_same_request(client, flagged) -> None:
    client.post("/api/screening/runs", headers=STAFF)
    unit_id = flagged.execute(text("SELECT id FROM units")).scalar_one()
    # 106.07 E 29.07 N is outside the zone; typed as DMS.
    moved = client.patch(
        f"/api/units/{unit_id}/location",
        headers=STAFF,
        json={"longitude": "106°4′12″E", "latitude": "29°4′12″N"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["screening"]["resolved"] == 1
    assert moved.json()["longitude"] == pytest.approx(106.07)
    status = client.get("/api/flags", headers=STAFF, params={"feature_type": "unit"}).json()
    assert status["items"][0]["status"] == "resolved"


def test_a_point_copied_from_amap_is_converted_before_screening(client, flagged) -> None:
    from geo.coords import wgs84_to_gcj02

    unit_id = flagged.execute(text("SELECT id FROM units")).scalar_one()
    # Truly at 106.038 E 29.035 N, ~190 m inside the zone's east edge. Amap shows it ~370 m
    # further east, outside the zone: taken as WGS84 those numbers would miss the zone.
    gcj_lon, gcj_lat = wgs84_to_gcj02(106.038, 29.035)
    assert gcj_lon > 106.04
    client.patch(
        f"/api/units/{unit_id}/location",
        headers=STAFF,
        json={"longitude": float(gcj_lon), "latitude": float(gcj_lat), "crs": "gcj02"},
    )
    flags = client.get("/api/flags", headers=STAFF, params={"feature_type": "unit"}).json()
    assert [f["classification"] for f in flags["items"]] == ["near_boundary"]  # converted: check
    as_wgs = client.patch(
        f"/api/units/{unit_id}/location",
        headers=STAFF,
        json={"longitude": float(gcj_lon), "latitude": float(gcj_lat)},
    )
    assert as_wgs.json()["screening"]["resolved"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"longitude": 29.03, "latitude": 106.03}, "coordinates"),
        ({"longitude": "abc", "latitude": 29.03}, "longitude"),
        ({"longitude": 120.0, "latitude": 40.0}, "coordinates"),
        ({"longitude": 106.03, "latitude": 29.03, "crs": "EPSG:3857"}, "crs"),
    ],
)
def test_bad_locations_are_refused_and_nothing_moves(client, flagged, body, field) -> None:
    unit_id = flagged.execute(text("SELECT id FROM units")).scalar_one()
    before = flagged.execute(text("SELECT ST_AsText(geom) FROM units")).scalar_one()
    response = client.patch(f"/api/units/{unit_id}/location", headers=STAFF, json=body)
    assert response.status_code == 422 and response.json()["field"] == field, response.text
    assert flagged.execute(text("SELECT ST_AsText(geom) FROM units")).scalar_one() == before


def test_moving_a_missing_feature_is_404(client, flagged) -> None:
    response = client.patch(
        "/api/outlets/424242/location", headers=STAFF, json={"longitude": 106.03, "latitude": 29.03}
    )
    assert response.status_code == 404

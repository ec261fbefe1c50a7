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
        response.status_code == 401 and response.json()["title"] == "the bearer token is not valid"
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

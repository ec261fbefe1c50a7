"""Penalty decisions: supervisors record and edit them (roles, duplicates, stale versions,
future dates), public ones reach the disclosure record and the public page, the others never
reach the public; every write is audited under its author."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.clock import FixedClock
from geo.units import unit_record
from tests.conftest import use_session
from tests.layer_fixtures import STAFF_MARKER, build_world
from tests.roles import as_role, role_settings

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
PUBLIC_DECISION = {
    "decision_no": "渝津环罚〔2026〕12号",
    "decided_on": "2026-05-10",
    "violation": "未按规定提交排污许可证执行报告",
    "legal_basis": "《排污许可管理条例》第三十七条",
    "amount_yuan": "20000.00",
    "public": True,
}
PRIVATE_DECISION = {
    "decision_no": "渝津环罚〔2026〕13号",
    "decided_on": "2026-06-01",
    "violation": f"{STAFF_MARKER} 未公开的违法事实",
    "legal_basis": f"{STAFF_MARKER} 依据",
    "amount_yuan": "50000",
    "public": False,
}


@pytest.fixture
def client(db_url, session):
    """The app with one service token per role, on a fixed date."""
    app = create_app(role_settings(db_url), clock=FixedClock(NOW))
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def unit(session) -> int:
    return build_world(session).units["valid"]


def record(client: TestClient, unit: int, body: dict, role: str | None = "supervisor"):
    return client.post(f"/api/units/{unit}/penalties", json=body, headers=as_role(role))


def test_only_supervisors_and_admins_record_and_edit(client, unit) -> None:
    assert record(client, unit, PUBLIC_DECISION, None).status_code == 401
    for role in ("inspector", "reviewer"):
        assert record(client, unit, PUBLIC_DECISION, role).status_code == 403
    created = record(client, unit, PUBLIC_DECISION)
    assert created.status_code == 201, created.text
    penalty = created.json()
    assert penalty["version"] == 1 and penalty["amount_yuan"] == 20000.0
    assert penalty["created_by"] == "supervisor-account"
    patch = {"version": 1, "amount_yuan": "25000"}
    path = f"/api/penalties/{penalty['id']}"
    assert client.patch(path, json=patch).status_code == 401
    assert client.patch(path, json=patch, headers=as_role("inspector")).status_code == 403
    assert client.patch(path, json=patch, headers=as_role("admin")).status_code == 200
    assert client.get("/api/penalties").status_code == 401
    assert client.get("/api/penalties", headers=as_role("inspector")).status_code == 200


def test_a_decision_number_is_recorded_once(client, unit, session) -> None:
    assert record(client, unit, PUBLIC_DECISION).status_code == 201
    again = record(client, unit, PUBLIC_DECISION | {"violation": "另一事实"})
    assert again.status_code == 409, again.text
    assert "recorded already" in again.json()["title"]
    other = record(client, unit, PRIVATE_DECISION).json()
    renumbered = client.patch(
        f"/api/penalties/{other['id']}",
        json={"version": 1, "decision_no": PUBLIC_DECISION["decision_no"]},
        headers=as_role("supervisor"),
    )
    assert renumbered.status_code == 409


def test_bad_input_is_refused(client, unit) -> None:
    future = record(client, unit, PUBLIC_DECISION | {"decided_on": "2026-11-25"})
    assert future.status_code == 400 and future.json()["field"] == "decided_on"
    assert record(client, unit, PUBLIC_DECISION | {"decided_on": "2026-11-24"}).status_code == 201
    negative = record(client, unit, PRIVATE_DECISION | {"amount_yuan": "-1"})
    assert negative.status_code == 422
    blank = record(client, unit, PRIVATE_DECISION | {"violation": "   "})
    assert blank.status_code == 422
    assert record(client, 999999, PRIVATE_DECISION).status_code == 404


def test_a_stale_version_is_a_conflict_and_nothing_is_lost(client, unit) -> None:
    penalty = record(client, unit, PRIVATE_DECISION).json()
    path, headers = f"/api/penalties/{penalty['id']}", as_role("supervisor")
    first = client.patch(path, json={"version": 1, "public": True}, headers=headers)
    assert first.status_code == 200 and first.json()["version"] == 2
    second = client.patch(path, json={"version": 1, "amount_yuan": "1"}, headers=headers)
    assert second.status_code == 409, second.text
    listed = client.get("/api/penalties", params={"unit_id": unit}, headers=headers).json()
    assert [(p["public"], p["amount_yuan"], p["version"]) for p in listed] == [(True, 50000, 2)]
    future = client.patch(path, json={"version": 2, "decided_on": "2027-01-01"}, headers=headers)
    assert future.status_code == 400
    empty = client.patch(path, json={"version": 2}, headers=headers)
    assert empty.status_code == 422
    missing = client.patch("/api/penalties/999999", json={"version": 1, "public": False},
                           headers=headers)  # fmt: skip
    assert missing.status_code == 404


def test_lists_filter_by_unit_and_county(client, session, unit) -> None:
    record(client, unit, PUBLIC_DECISION)
    other_unit = session.execute(text("SELECT max(id) FROM units")).scalar_one()
    record(client, other_unit, PRIVATE_DECISION)
    headers = as_role("inspector")
    by_unit = client.get("/api/penalties", params={"unit_id": unit}, headers=headers).json()
    assert [p["decision_no"] for p in by_unit] == [PUBLIC_DECISION["decision_no"]]
    county = client.get("/api/penalties", params={"county": "500116"}, headers=headers).json()
    dates = [p["decided_on"] for p in county]
    assert len(county) == 4 and dates == sorted(dates, reverse=True)  # the world's two too
    mine = [p["decision_no"] for p in county if p["created_by"] == "supervisor-account"]
    assert mine == [PRIVATE_DECISION["decision_no"], PUBLIC_DECISION["decision_no"]]
    assert client.get("/api/penalties", params={"county": "110101"}, headers=headers).json() == []
    assert client.get("/api/penalties", params={"county": "x"}, headers=headers).status_code == 422


def test_public_decisions_are_disclosed_and_the_others_never(client, session, unit) -> None:
    record(client, unit, PUBLIC_DECISION)
    record(client, unit, PRIVATE_DECISION)
    code = session.execute(
        text("SELECT credit_code FROM units WHERE id = :u"), {"u": unit}
    ).scalar_one()
    disclosed = client.get(f"/api/public/units/{code}")
    assert disclosed.status_code == 200
    assert disclosed.json()["penalties"] == [
        {
            "decision_no": PUBLIC_DECISION["decision_no"],
            "decided_on": "2026-05-10",
            "violation": PUBLIC_DECISION["violation"],
            "legal_basis": PUBLIC_DECISION["legal_basis"],
            "amount_yuan": 20000.0,
        }
    ]
    page = client.get(f"/public/units/{code}", params={"lang": "zh"})
    assert page.status_code == 200
    assert PUBLIC_DECISION["decision_no"] in page.text and "20,000.00" in page.text
    for body in (disclosed.text, page.text):
        assert STAFF_MARKER not in body and PRIVATE_DECISION["decision_no"] not in body
    # staff see both in the unit's record
    staff = client.get(f"/api/units/{unit}", headers=as_role("inspector")).json()
    numbers = {e["reference"] for e in staff["enforcement"] if e["kind"] == "penalty"}
    assert numbers == {PUBLIC_DECISION["decision_no"], PRIVATE_DECISION["decision_no"]}


def test_the_staff_record_lists_penalties_and_problems(client, session, unit) -> None:
    record(client, unit, PRIVATE_DECISION)
    session.execute(
        text("""
        INSERT INTO problems (source, problem_type, unit_id, finding, department, deadline,
                              opened_on, opened_by)
        VALUES ('inspection', 'rectification_order', :u, '废气治理设施未正常运行', '执法支队',
                '2027-03-01', '2026-11-20', 'tester')
    """),
        {"u": unit},
    )
    enforcement = unit_record(session, unit_id=unit)["enforcement"]
    assert [(e["kind"], e["on_date"]) for e in enforcement] == [
        ("problem", date(2026, 11, 20)),
        ("penalty", date(2026, 6, 1)),
    ]
    assert enforcement[0]["status"] == "open" and enforcement[0]["deadline"] == date(2027, 3, 1)


def test_writes_are_audited_under_their_author(client, session, unit) -> None:
    penalty = record(client, unit, PRIVATE_DECISION).json()
    client.patch(
        f"/api/penalties/{penalty['id']}",
        json={"version": 1, "public": True},
        headers=as_role("supervisor"),
    )
    rows = session.execute(
        text(
            "SELECT actor, action, before ->> 'public', after ->> 'public' FROM audit_log"
            " WHERE entity = 'penalties' AND entity_id = :id ORDER BY id"
        ),
        {"id": str(penalty["id"])},
    ).all()
    assert [tuple(r) for r in rows] == [
        ("supervisor-account", "insert", None, "false"),
        ("supervisor-account", "update", "false", "true"),
    ]

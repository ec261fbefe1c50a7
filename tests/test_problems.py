"""The problem ledger: opening, the workflow by state and role, optimistic locking, overdue,
the clear-to-zero dashboard, flag → problem, events and audit rows (real PostGIS)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.clock import FixedClock
from geo.errors import ValidationError
from geo.problem_rules import STATUSES, TRANSITIONS, add_months
from geo.problems import open_problem
from geo.settings import AttachmentSettings
from geo.users import ROLES
from tests.conftest import use_session
from tests.factories import COUNTY, add_region, add_unit, credit_code
from tests.layer_fixtures import build_world
from tests.roles import as_role, role_settings

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in China
TODAY = date(2026, 11, 24)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OTHER_COUNTY = "500117"


def make_client(db_url, session, tmp_path, clock=None) -> TestClient:
    settings = role_settings(db_url, attachments=AttachmentSettings(dir=tmp_path / "evidence"))
    app = create_app(settings, clock=clock or FixedClock(NOW))
    use_session(app, session)
    return TestClient(app)


@pytest.fixture
def api(db_url, session, tmp_path):
    with make_client(db_url, session, tmp_path) as client:
        yield client


@pytest.fixture
def unit(session) -> int:
    add_region(session)
    return add_unit(session, credit_code(1))


def new_problem(api, unit_id: int, role: str = "inspector", **extra) -> dict:
    body = {
        "source": "inspection",
        "problem_type": "rectification_order",
        "unit_id": unit_id,
        "finding": "废水排放口未规范化设置",
        "department": "江津区生态环境局",
        "deadline": "2027-03-24",
        **extra,
    }
    response = api.post("/api/problems", json=body, headers=as_role(role))
    assert response.status_code == 201, response.text
    return response.json()


def step(api, problem: dict, to: str, role: str, note: str | None = None):
    body = {"to": to, "version": problem["version"], "note": note}
    return api.post(f"/api/problems/{problem['id']}/transitions", json=body, headers=as_role(role))


def attach(api, problem_id: int, role: str = "inspector"):
    files = {"file": ("整改报告.pdf", PDF, "application/pdf")}
    return api.post(f"/api/problems/{problem_id}/attachments", files=files, headers=as_role(role))


def put_in_state(session, problem_id: int, status: str) -> None:
    session.execute(
        text("""
        UPDATE problems SET status = CAST(:s AS problem_status),
               closed_at = CASE WHEN :s = 'closed' THEN now() END
        WHERE id = :id
    """),
        {"s": status, "id": problem_id},
    )


# --- opening ----------------------------------------------------------------------------------


def test_opening_puts_an_open_problem_on_the_ledger(api, unit) -> None:
    problem = new_problem(api, unit)
    assert problem["status"] == "open" and problem["version"] == 1
    assert problem["opened_on"] == "2026-11-24" and problem["opened_by"] == "inspector-account"
    assert problem["county_code"] == COUNTY and problem["overdue"] is False
    assert [e["event"] for e in problem["events"]] == ["opened"]
    assert problem["next"] == {"rectifying": ["inspector"]}
    for role in ("reviewer", "supervisor", "admin"):
        assert new_problem(api, unit, role)["opened_by"] == f"{role}-account"


@pytest.mark.parametrize(
    ("deadline", "accepted"),
    [
        ("2027-02-23", False),  # a day short of 3 months
        ("2027-02-24", True),
        ("2027-11-24", True),
        ("2027-11-25", False),  # a day past 12 months
        ("2026-11-01", False),  # in the past
    ],
)
def test_deadlines_lie_three_to_twelve_months_ahead(api, unit, deadline, accepted) -> None:
    body = {
        "source": "permit_review",
        "problem_type": "permit_quality",
        "unit_id": unit,
        "finding": "许可排放量计算错误",
        "department": "市局审批科",
        "deadline": deadline,
    }
    response = api.post("/api/problems", json=body, headers=as_role("reviewer"))
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == "deadline"
        assert "2027-02-24" in response.json()["title"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit_id": 987654321}, "unit_id"),
        ({"deadline": None}, "deadline"),  # a rectification order needs one
        ({"finding": "   "}, "finding"),
        ({"department": ""}, "department"),
        ({"problem_type": "Bad Type!"}, "problem_type"),
        ({"outlet_id": 987654321}, "outlet_id"),
    ],
)
def test_bad_input_is_a_problem_document_naming_the_field(api, unit, change, field) -> None:
    body = {
        "source": "inspection",
        "problem_type": "rectification_order",
        "unit_id": unit,
        "finding": "超标排放",
        "department": "执法支队",
        "deadline": "2027-05-01",
        **change,
    }
    response = api.post("/api/problems", json=body, headers=as_role("inspector"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert not api.get("/api/problems", headers=as_role("inspector")).json()["items"]


def test_unknown_source_is_refused(api, unit) -> None:
    body = {"source": "rumour", "problem_type": "other", "unit_id": unit, "finding": "x"}
    response = api.post(
        "/api/problems", json={**body, "department": "d"}, headers=as_role("inspector")
    )
    assert response.status_code == 422
    assert any(e["field"].endswith("source") for e in response.json()["errors"])


def test_open_problem_for_other_modules(session, unit) -> None:
    problem_id = open_problem(
        session,
        source="execution_report",
        problem_type="report_late",
        unit_id=unit,
        finding="2026年第三季度执行报告未提交",
        department="江津区生态环境局",
        deadline=None,
        today=TODAY,
        opened_by="system:reports",
    )
    row = session.execute(
        text("SELECT status::text, version, deadline, closed_at FROM problems WHERE id = :i"),
        {"i": problem_id},
    ).one()
    assert tuple(row) == ("open", 1, None, None)
    with pytest.raises(ValidationError) as refused:
        open_problem(
            session,
            source="execution_report",
            problem_type="report_late",
            unit_id=unit,
            finding="x",
            department="d",
            deadline=date(2026, 12, 24),
            today=TODAY,
            opened_by="system:reports",
        )
    assert refused.value.field == "deadline"


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 8, 31), 12) == date(2027, 8, 31)
    assert add_months(date(2026, 12, 1), 1) == date(2027, 1, 1)


# --- the workflow -----------------------------------------------------------------------------


def test_the_whole_way_to_close_out_with_events_and_audit(api, unit, session) -> None:
    problem = new_problem(api, unit)
    problem = step(api, problem, "rectifying", "inspector").json()
    no_evidence = step(api, problem, "submitted", "inspector")
    assert no_evidence.status_code == 422 and no_evidence.json()["field"] == "attachments"
    assert attach(api, problem["id"]).status_code == 201
    for to, role in (
        ("submitted", "inspector"),
        ("verified", "reviewer"),
        ("closed", "supervisor"),
    ):
        response = step(api, problem, to, role)
        assert response.status_code == 200, response.text
        problem = response.json()
        assert problem["status"] == to
    assert problem["version"] == 5 and problem["closed_at"].startswith("2026-11-24T02:00")
    assert problem["next"] == {}
    events = [(e["event"], e["from_status"], e["to_status"], e["actor"]) for e in problem["events"]]
    assert events == [
        ("opened", None, "open", "inspector-account"),
        ("transition", "open", "rectifying", "inspector-account"),
        ("evidence_added", None, None, "inspector-account"),
        ("transition", "rectifying", "submitted", "inspector-account"),
        ("transition", "submitted", "verified", "reviewer-account"),
        ("transition", "verified", "closed", "supervisor-account"),
    ]
    audit = session.execute(
        text("""
        SELECT actor, action, before ->> 'status', after ->> 'status' FROM audit_log
        WHERE entity = 'problems' AND entity_id = :id ORDER BY id
    """),
        {"id": str(problem["id"])},
    ).all()
    assert [tuple(a) for a in audit] == [
        ("inspector-account", "insert", None, "open"),
        ("inspector-account", "update", "open", "rectifying"),
        ("inspector-account", "update", "rectifying", "submitted"),
        ("reviewer-account", "update", "submitted", "verified"),
        ("supervisor-account", "update", "verified", "closed"),
    ]
    audited = session.execute(
        text("""
        SELECT entity, actor FROM audit_log
        WHERE entity IN ('problem_events', 'problem_attachments') AND action = 'insert'
    """)
    ).all()
    assert ("problem_attachments", "inspector-account") in audited
    assert sum(1 for e, _ in audited if e == "problem_events") == 6


@pytest.mark.parametrize("start", STATUSES)
@pytest.mark.parametrize("to", STATUSES)
def test_every_transition_by_state(api, unit, session, start, to) -> None:
    problem = new_problem(api, unit)
    assert attach(api, problem["id"]).status_code == 201
    put_in_state(session, problem["id"], start)
    response = step(api, problem, to, "admin", note="退回：证据不足")
    if (start, to) in TRANSITIONS:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to
    else:
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "to"
        state = session.execute(
            text("SELECT status::text, version FROM problems WHERE id = :i"), {"i": problem["id"]}
        ).one()
        assert tuple(state) == (start, 1)


@pytest.mark.parametrize(("start", "to"), list(TRANSITIONS))
def test_every_transition_by_role(api, unit, session, start, to) -> None:
    problem = new_problem(api, unit)
    assert attach(api, problem["id"]).status_code == 201
    put_in_state(session, problem["id"], start)
    allowed = TRANSITIONS[(start, to)].roles
    for role in ROLES:
        response = step(api, problem, to, role, note="退回：证据不足")
        if role in allowed or role == "admin":
            assert response.status_code == 200, (role, response.text)
            put_in_state(session, problem["id"], start)
            problem = response.json()
        else:
            assert response.status_code == 403, (role, response.text)
    assert step(api, problem, to, None).status_code == 401


def test_sending_back_needs_a_reason(api, unit, session) -> None:
    problem = new_problem(api, unit)
    put_in_state(session, problem["id"], "submitted")
    refused = step(api, problem, "rectifying", "supervisor", note="  ")
    assert refused.status_code == 422 and refused.json()["field"] == "note"
    back = step(api, problem, "rectifying", "supervisor", note="整改报告缺少监测数据")
    assert back.status_code == 200
    assert back.json()["events"][-1]["note"] == "整改报告缺少监测数据"


def test_a_stale_version_is_a_conflict_and_nothing_is_lost(api, unit, session) -> None:
    read_by_both = new_problem(api, unit)
    first = step(api, read_by_both, "rectifying", "inspector")
    assert first.status_code == 200 and first.json()["version"] == 2
    second = step(api, read_by_both, "rectifying", "admin")
    assert second.status_code == 409, second.text
    assert "version 2" in second.json()["title"]
    edit = api.patch(
        f"/api/problems/{read_by_both['id']}",
        json={"version": 1, "department": "另一个部门"},
        headers=as_role("supervisor"),
    )
    assert edit.status_code == 409
    now = api.get(f"/api/problems/{read_by_both['id']}", headers=as_role("reviewer")).json()
    assert (now["status"], now["version"], now["department"]) == (
        "rectifying",
        2,
        "江津区生态环境局",
    )
    assert len(now["events"]) == 2


def test_unknown_problem_is_404(api, unit) -> None:
    response = api.post(
        "/api/problems/987654/transitions",
        json={"to": "rectifying", "version": 1},
        headers=as_role("inspector"),
    )
    assert response.status_code == 404
    assert api.get("/api/problems/987654", headers=as_role("inspector")).status_code == 404


def test_supervisors_edit_with_the_version_and_a_reason_for_a_new_deadline(api, unit) -> None:
    problem = new_problem(api, unit)
    url = f"/api/problems/{problem['id']}"
    body = {"version": 1, "deadline": "2027-06-24"}
    assert api.patch(url, json=body, headers=as_role("inspector")).status_code == 403
    no_reason = api.patch(url, json=body, headers=as_role("supervisor"))
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "note"
    too_late = api.patch(
        url, json={**body, "deadline": "2028-01-01", "note": "搬迁"}, headers=as_role("supervisor")
    )
    assert too_late.status_code == 422 and too_late.json()["field"] == "deadline"
    done = api.patch(
        url, json={**body, "note": "企业申请延期，已附整改计划"}, headers=as_role("supervisor")
    )
    assert done.status_code == 200, done.text
    assert done.json()["deadline"] == "2027-06-24" and done.json()["version"] == 2
    assert "deadline: 2027-03-24 → 2027-06-24" in done.json()["events"][-1]["note"]


# --- overdue and the dashboard ---------------------------------------------------------------


def _open_at(session, unit_id: int, opened: date, deadline: date | None, status: str) -> int:
    problem_id = open_problem(
        session,
        source="inspection",
        problem_type="rectification_order" if deadline else "other",
        unit_id=unit_id,
        finding="问题",
        department="执法支队",
        deadline=deadline,
        today=opened,
        opened_by="tester",
    )
    if status != "open":
        put_in_state(session, problem_id, status)
    return problem_id


def test_overdue_on_a_fixed_date(api, unit, session, db_url, tmp_path) -> None:
    late = _open_at(session, unit, date(2026, 5, 1), date(2026, 8, 1), "rectifying")
    submitted_late = _open_at(session, unit, date(2026, 5, 1), date(2026, 8, 1), "submitted")
    verified_late = _open_at(session, unit, date(2026, 5, 1), date(2026, 8, 1), "verified")
    due_today = _open_at(session, unit, date(2026, 8, 24), date(2026, 11, 24), "open")
    no_deadline = _open_at(session, unit, date(2026, 1, 1), None, "open")
    listed = api.get("/api/problems", headers=as_role("inspector")).json()
    overdue = {p["id"]: p["overdue"] for p in listed["items"]}
    assert overdue == {
        late: True,
        submitted_late: True,
        verified_late: False,
        due_today: False,
        no_deadline: False,
    }
    only = api.get("/api/problems", params={"overdue": "true"}, headers=as_role("inspector"))
    assert {p["id"] for p in only.json()["items"]} == {late, submitted_late}
    assert only.json()["total"] == 2
    # the day after, the problem due today is overdue too
    tomorrow = FixedClock(datetime(2026, 11, 25, 2, tzinfo=UTC))
    with make_client(db_url, session, tmp_path, tomorrow) as later:
        later_ids = {
            p["id"]
            for p in later.get(
                "/api/problems", params={"overdue": True}, headers=as_role("reviewer")
            ).json()["items"]
        }
    assert later_ids == {late, submitted_late, due_today}


def test_list_filters(api, unit, session) -> None:
    first = _open_at(session, unit, TODAY, None, "open")
    second = _open_at(session, unit, TODAY, None, "rectifying")
    get = lambda **p: api.get("/api/problems", params=p, headers=as_role("inspector"))  # noqa: E731
    assert {p["id"] for p in get(status="open").json()["items"]} == {first}
    assert {p["id"] for p in get(county=COUNTY, unit_id=unit).json()["items"]} == {first, second}
    assert get(county="500999").json()["total"] == 0
    assert get(status="nonsense").status_code == 422
    assert api.get("/api/problems").status_code == 401


def _second_county(session) -> int:
    session.execute(
        text("""
        INSERT INTO admin_regions (code, name, level, parent_code, geom)
        VALUES (:c, '永川区', 'county', '500000',
                ST_GeomFromEWKT('SRID=4326;MULTIPOLYGON(((105 29,105.1 29,105.1 29.1,105 29)))'))
    """),
        {"c": OTHER_COUNTY},
    )
    unit_id = add_unit(session, credit_code(2))
    session.execute(
        text("UPDATE units SET county_code = :c WHERE id = :u"), {"c": OTHER_COUNTY, "u": unit_id}
    )
    return unit_id


def test_clear_to_zero_dashboard_per_county(api, unit, session) -> None:
    other = _second_county(session)
    _open_at(session, unit, date(2026, 5, 1), date(2026, 8, 1), "rectifying")  # overdue
    _open_at(session, unit, TODAY, date(2027, 3, 1), "open")
    closed_now = _open_at(session, unit, date(2026, 5, 1), date(2026, 8, 1), "open")
    closed_before = _open_at(session, unit, date(2026, 5, 1), date(2026, 8, 1), "open")
    closed_in_other = _open_at(session, other, date(2026, 5, 1), date(2026, 8, 1), "open")
    for problem_id, at in (
        (closed_now, "2026-11-01T00:30:00+08:00"),  # November in China, October in UTC
        (closed_before, "2026-10-31T23:00:00+08:00"),
        (closed_in_other, "2026-11-20T10:00:00+08:00"),
    ):
        session.execute(
            text("UPDATE problems SET status = 'closed', closed_at = :at WHERE id = :id"),
            {"at": datetime.fromisoformat(at), "id": problem_id},
        )
    board = api.get("/api/problems/dashboard", headers=as_role("supervisor"))
    assert board.status_code == 200, board.text
    body = board.json()
    assert body["month"] == "2026-11" and body["as_of"] == "2026-11-24"
    counties = {c["county_code"]: c for c in body["counties"]}
    assert counties[COUNTY] == {
        "county_code": COUNTY,
        "county_name": "江津区",
        "open": 2,
        "overdue": 1,
        "closed_this_month": 1,
        "cleared": False,
    }
    assert counties[OTHER_COUNTY]["open"] == 0 and counties[OTHER_COUNTY]["cleared"] is True
    assert counties[OTHER_COUNTY]["closed_this_month"] == 1
    assert body["total"] == {"open": 2, "overdue": 1, "closed_this_month": 2, "cleared": False}
    october = api.get(
        "/api/problems/dashboard", params={"month": "2026-10"}, headers=as_role("inspector")
    ).json()
    assert october["total"]["closed_this_month"] == 1
    bad = api.get("/api/problems/dashboard", params={"month": "2026-13"}, headers=as_role("admin"))
    assert bad.status_code == 400 and bad.json()["field"] == "month"
    assert api.get("/api/problems/dashboard").status_code == 401


# --- flag → problem ---------------------------------------------------------------------------


def test_a_confirmed_flag_opens_one_problem(api, session) -> None:
    world = build_world(session)
    flag = world.flags["warning"]  # confirmed
    url = f"/api/flags/{flag}/problem"
    body = {"department": "江津区生态环境局", "deadline": "2027-05-24"}
    response = api.post(url, json=body, headers=as_role("reviewer"))
    assert response.status_code == 201, response.text
    problem = response.json()
    assert problem["source"] == "screening_flag" and problem["flag_id"] == flag
    assert problem["unit_id"] == world.units["warning"] and problem["outlet_id"] is None
    assert "测试水源一级保护区" in problem["finding"] and "第六十五条" in problem["finding"]
    traced = session.execute(
        text("SELECT event, detail FROM flag_events WHERE flag_id = :f"), {"f": flag}
    ).all()
    assert ("problem_opened", f"reviewer-account: problem {problem['id']}") in traced
    again = api.post(url, json=body, headers=as_role("supervisor"))
    assert again.status_code == 409, again.text
    assert str(problem["id"]) in again.json()["title"]


def test_only_a_confirmed_flag_opens_a_problem(api, session) -> None:
    world = build_world(session)
    body = {"department": "执法支队"}
    for key in ("violation", "dismissed"):  # open, dismissed
        response = api.post(
            f"/api/flags/{world.flags[key]}/problem", json=body, headers=as_role("inspector")
        )
        assert response.status_code == 409, response.text
    unknown = api.post("/api/flags/987654/problem", json=body, headers=as_role("inspector"))
    assert unknown.status_code == 404
    assert api.post(f"/api/flags/{world.flags['warning']}/problem", json=body).status_code == 401
    outlet_flag = world.flags["outlet"]
    session.execute(
        text("UPDATE flags SET status = 'confirmed', reviewer = 'r' WHERE id = :f"),
        {"f": outlet_flag},
    )
    response = api.post(f"/api/flags/{outlet_flag}/problem", json=body, headers=as_role("admin"))
    assert response.status_code == 201, response.text
    assert response.json()["unit_id"] == world.units["outlet_flag"]
    assert response.json()["outlet_id"] == world.outlets["outlet_flag"]

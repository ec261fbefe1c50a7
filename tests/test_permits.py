"""The permit lifecycle: every transition allowed and refused (by state and by role), history
and audit rows under the signed-in user, optimistic locking, bad input as problem details."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.clock import FixedClock
from geo.permit_rules import TRANSITION_ROLES, Transition, TransitionError
from geo.permits import Amendment, change_permit, five_years
from geo.users import ROLES, set_actor
from tests.conftest import use_session
from tests.factories import SQUARE, add_region, add_unit, credit_code
from tests.roles import as_role, role_settings

TODAY = date(2026, 11, 24)
CLOCK = FixedClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))  # 10:00 in China
AUTHORITY = "重庆市江津区生态环境局"


auth = as_role


@pytest.fixture
def api(db_url: str, session: Session) -> TestClient:
    """The app on a fixed date, one service token per role, requests in the test's session."""
    app = create_app(role_settings(db_url), clock=CLOCK)
    use_session(app, session)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def unit(session: Session) -> tuple[int, str]:
    """An operating unit: (id, credit code)."""
    add_region(session)
    code = credit_code(4242)
    return add_unit(session, code), code


def issue(api: TestClient, unit: tuple[int, str], role: str = "reviewer", **body: object):
    payload = {"permit_no": f"{unit[1]}001P", "authority": AUTHORITY} | body
    return api.post(f"/api/units/{unit[0]}/permits", json=payload, headers=auth(role))


def issued(api: TestClient, unit: tuple[int, str], **body: object) -> dict:
    response = issue(api, unit, **body)
    assert response.status_code == 201, response.text
    return response.json()


def act(api: TestClient, permit: dict, transition: str, role: str, **body: object):
    payload = {"version": permit["version"]} | body
    return api.post(f"/api/permits/{permit['id']}/{transition}", json=payload, headers=auth(role))


def done(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def close_unit(session: Session, unit_id: int) -> None:
    session.execute(text("UPDATE units SET status = 'closed' WHERE id = :id"), {"id": unit_id})


# ---- issue -------------------------------------------------------------------------------------


def test_issue_records_history_and_audit_under_the_reviewer(api, unit, session) -> None:
    response = issue(api, unit, report_frequencies=["annual", "quarterly"], note="首次申请")
    assert response.status_code == 201, response.text
    permit = response.json()
    assert response.headers["location"] == f"/api/permits/{permit['id']}"
    assert permit["status"] == "valid" and permit["in_force"] and permit["version"] == 1
    assert permit["kind"] == "permit" and permit["unit_id"] == unit[0]
    assert (permit["issued_on"], permit["valid_from"]) == ("2026-11-24", "2026-11-24")
    assert permit["valid_to"] == "2031-11-23" == five_years(TODAY).isoformat()
    assert permit["transitions"] == ["change", "renew", "revoke", "cancel", "withdraw"]
    [entry] = permit["history"]
    assert (entry["change"], entry["note"], entry["actor"], entry["version"]) == (
        "issue",
        "首次申请",
        "reviewer-account",
        1,
    )
    assert entry["changed_at"].startswith("2026-11-24T02:00")  # the injected clock
    audit = session.execute(
        text("SELECT actor, action FROM audit_log WHERE entity = 'permits' AND entity_id = :id"),
        {"id": str(permit["id"])},
    ).all()
    assert [tuple(a) for a in audit] == [("reviewer-account", "insert")]


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("inspector", 403), ("supervisor", 403)])
def test_issue_refuses_the_anonymous_and_wrong_roles(api, unit, role, status) -> None:
    assert_problem(issue(api, unit, role=role), status)


def test_admins_may_issue_and_registration_units_get_registrations(api, unit, session) -> None:
    session.execute(
        text("UPDATE units SET category = 'registration' WHERE id = :id"), {"id": unit[0]}
    )
    permit = issue(api, unit, role="admin", permit_no=f"{unit[1]}001W").json()
    assert permit["kind"] == "registration" and permit["history"][0]["actor"] == "admin-account"


def test_issue_to_an_unknown_unit_is_404(api, unit) -> None:
    assert_problem(issue(api, (999_999, unit[1])), 404)


def test_issue_refuses_a_duplicate_number(api, unit, session) -> None:
    issued(api, unit)
    second_site = (add_unit(session, unit[1], site_seq=2), unit[1])
    body = assert_problem(issue(api, second_site), 409, "permit_no")
    assert "exists already" in body["title"]


def test_issue_refuses_a_second_permit_in_force_and_closed_units(api, unit, session) -> None:
    issued(api, unit)
    assert_problem(issue(api, unit, permit_no=f"{unit[1]}002P"), 409, "unit_id")
    other = (add_unit(session, unit[1], site_seq=3), unit[1])
    close_unit(session, other[0])
    body = assert_problem(issue(api, other, permit_no=f"{unit[1]}003P"), 409, "unit_id")
    assert "closed" in body["title"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"permit_no": "91500116000042420001P"}, "permit_no"),  # 21 characters
        ({"permit_no": f"{credit_code(1)}001P"}, "permit_no"),  # another unit's code
        ({"issued_on": "2026-12-01"}, "issued_on"),  # in the future
        ({"issued_on": "2026-06-01", "valid_from": "2026-05-31"}, "valid_from"),
        ({"valid_from": "2026-11-24", "valid_to": "2026-11-24"}, "valid_to"),
        ({"valid_from": "2026-11-24", "valid_to": "2031-11-24"}, "valid_to"),  # > 5 years
        ({"report_frequencies": ["daily"]}, "body.report_frequencies.0"),
    ],
)
def test_issue_refuses_bad_numbers_and_dates_naming_the_field(api, unit, body, field) -> None:
    response = issue(api, unit, **body)
    problem = assert_problem(response, 422)
    named = problem.get("field") or problem["errors"][0]["field"]
    assert named == field, problem


# ---- transitions allowed and refused by role ---------------------------------------------------

BODIES = {
    "change": {"reason": "单位名称变更"},
    "renew": {},
    "revoke": {"reason": "以欺骗手段取得"},
    "cancel": {"reason": "单位申请", "ground": "holder_request"},
    "withdraw": {"reason": "严重违法"},
}


@pytest.mark.parametrize("transition", list(BODIES))
def test_each_transition_admits_its_roles_only(api, unit, transition) -> None:
    permit = issued(api, unit)
    allowed = set(TRANSITION_ROLES[Transition(transition)]) | {"admin"}
    assert_problem(act(api, permit, transition, None, **BODIES[transition]), 401)
    for role in sorted(set(ROLES) - allowed):
        assert_problem(act(api, permit, transition, role, **BODIES[transition]), 403)
    role = sorted(allowed - {"admin"})[0]
    after = done(act(api, permit, transition, role, **BODIES[transition]))
    assert after["version"] == 2
    assert [h["change"] for h in after["history"]] == ["issue", transition]
    assert after["history"][1]["actor"] == f"{role}-account"


def test_admins_may_make_every_transition(api, unit) -> None:
    permit = issued(api, unit, issued_on="2021-12-01")
    permit = done(act(api, permit, "change", "admin", reason="法定代表人变更"))
    permit = done(act(api, permit, "renew", "admin"))
    permit = done(act(api, permit, "withdraw", "admin", reason="严重违法"))
    assert permit["status"] == "withdrawn" and permit["version"] == 4
    assert permit["transitions"] == []


# ---- change ------------------------------------------------------------------------------------


def test_change_records_what_changed(api, unit, session) -> None:
    permit = issued(api, unit, report_frequencies=["annual"])
    body = {"reason": "执行报告频次调整", "report_frequencies": ["annual", "quarterly"]}
    changed = done(act(api, permit, "change", "reviewer", **body, authority="重庆市生态环境局"))
    assert changed["authority"] == "重庆市生态环境局" and changed["version"] == 2
    entry = changed["history"][1]
    assert entry["note"] == "执行报告频次调整" and entry["version"] == 2
    assert entry["changes"] == {
        "authority": [AUTHORITY, "重庆市生态环境局"],
        "report_frequencies": [["annual"], ["annual", "quarterly"]],
    }
    audit = session.execute(
        text(
            "SELECT actor, before ->> 'version', after ->> 'version' FROM audit_log"
            " WHERE entity = 'permits' AND entity_id = :id AND action = 'update'"
        ),
        {"id": str(permit["id"])},
    ).all()
    assert [tuple(a) for a in audit] == [("reviewer-account", "1", "2")]


def test_a_stale_version_is_a_409_and_nothing_is_lost(api, unit) -> None:
    permit = issued(api, unit)
    first = done(act(api, permit, "change", "reviewer", reason="甲", authority="甲局"))
    stale = act(api, permit, "change", "reviewer", reason="乙", authority="乙局")  # read v1
    body = assert_problem(stale, 409, "version")
    assert body["value"] == "1"
    now = done(api.get(f"/api/permits/{permit['id']}", headers=auth("inspector")))
    assert now["authority"] == "甲局" and now["version"] == first["version"] == 2
    assert [h["note"] for h in now["history"]] == [None, "甲"]
    # the second editor reloads and retries
    retried = done(act(api, now, "change", "reviewer", reason="乙", authority="乙局"))
    assert retried["version"] == 3 and retried["authority"] == "乙局"


def test_an_expired_permit_is_not_changed_or_withdrawn(api, unit) -> None:
    permit = issued(api, unit, issued_on="2021-01-01")  # to 2025-12-31
    assert permit["in_force"] is False and permit["transitions"] == ["renew", "revoke", "cancel"]
    assert_problem(act(api, permit, "change", "reviewer", reason="x"), 409, "valid_to")
    assert_problem(act(api, permit, "withdraw", "supervisor", reason="x"), 409, "valid_to")


# ---- renew -------------------------------------------------------------------------------------


def test_renew_continues_the_period_and_keeps_the_number(api, unit) -> None:
    permit = issued(api, unit, issued_on="2022-01-10")  # to 2027-01-09
    renewed = done(act(api, permit, "renew", "reviewer", note="延续申请已批准"))
    assert renewed["permit_no"] == permit["permit_no"] and renewed["id"] == permit["id"]
    assert (renewed["issued_on"], renewed["valid_from"], renewed["valid_to"]) == (
        "2026-11-24",
        "2027-01-10",
        "2032-01-09",
    )
    entry = renewed["history"][1]
    assert (entry["change"], entry["note"]) == ("renew", "延续申请已批准")
    assert entry["changes"]["valid_to"] == ["2027-01-09", "2032-01-09"]


def test_a_late_renewal_starts_on_its_decision(api, unit, session) -> None:
    permit = issued(api, unit, issued_on="2021-06-01")  # to 2026-05-31
    session.execute(text("UPDATE permits SET status = 'expired' WHERE id = :id"), permit)
    permit = done(api.get(f"/api/permits/{permit['id']}", headers=auth("reviewer")))
    renewed = done(act(api, permit, "renew", "reviewer"))
    assert (renewed["status"], renewed["valid_from"]) == ("valid", "2026-11-24")


def test_renew_refuses_overlapping_periods_and_closed_units(api, unit, session) -> None:
    permit = issued(api, unit, issued_on="2022-01-10")  # to 2027-01-09
    overlapping = act(api, permit, "renew", "reviewer", valid_from="2027-01-09")
    assert_problem(overlapping, 422, "valid_from")
    too_long = act(api, permit, "renew", "reviewer", valid_to="2032-01-10")
    assert_problem(too_long, 422, "valid_to")
    close_unit(session, unit[0])
    body = assert_problem(act(api, permit, "renew", "reviewer"), 409, "unit_id")
    assert "cancel" in body["title"]


@pytest.mark.parametrize(("ending", "role"), [("revoke", "supervisor"), ("withdraw", "supervisor")])
def test_no_transition_after_revocation_or_withdrawal(api, unit, ending, role) -> None:
    permit = done(act(api, issued(api, unit), ending, role, reason="违法"))
    for transition, body in BODIES.items():
        actor = "supervisor" if transition in ("revoke", "withdraw") else "reviewer"
        problem = assert_problem(act(api, permit, transition, actor, **body), 409, "status")
        assert problem["value"] == permit["status"]
    assert "cannot be renewed" in act(api, permit, "renew", "reviewer").json()["title"]


# ---- cancel ------------------------------------------------------------------------------------


def test_cancel_needs_a_ground_that_holds(api, unit, session) -> None:
    permit = issued(api, unit)
    reason = {"reason": "关停"}
    body = assert_problem(act(api, permit, "cancel", "reviewer", **reason), 422)
    assert body["errors"][0]["field"] == "body.ground"
    closed = act(api, permit, "cancel", "reviewer", ground="unit_closed", **reason)
    assert_problem(closed, 409, "ground")
    expired = act(api, permit, "cancel", "reviewer", ground="expired", **reason)
    assert_problem(expired, 409, "ground")
    close_unit(session, unit[0])
    cancelled = done(act(api, permit, "cancel", "reviewer", ground="unit_closed", **reason))
    assert cancelled["status"] == "cancelled" and cancelled["transitions"] == []
    assert cancelled["history"][1]["note"] == "unit_closed: 关停"
    assert_problem(act(api, cancelled, "renew", "reviewer"), 409, "status")


def test_an_expired_permit_is_cancelled_on_the_expired_ground(api, unit) -> None:
    permit = issued(api, unit, issued_on="2021-01-01")
    done(act(api, permit, "cancel", "reviewer", ground="expired", reason="有效期届满未延续"))


def test_unknown_permits_and_anonymous_reads(api, unit) -> None:
    assert_problem(api.get("/api/permits/999999", headers=auth("inspector")), 404)
    assert_problem(act(api, {"id": 999_999, "version": 1}, "revoke", "supervisor", reason="x"), 404)
    permit = issued(api, unit)
    assert_problem(api.get(f"/api/permits/{permit['id']}"), 401)


# ---- history outside the lifecycle, and real concurrency ---------------------------------------


def test_history_is_written_once_per_transition_and_direct_edits_still_recorded(
    api, unit, session
) -> None:
    permit = issued(api, unit)
    done(act(api, permit, "revoke", "supervisor", reason="欺骗"))
    set_actor(session, "psql-user")
    session.execute(text("UPDATE permits SET authority = '改' WHERE id = :id"), permit)
    rows = session.execute(
        text("SELECT change, actor FROM permit_history WHERE permit_id = :id ORDER BY id"),
        permit,
    ).all()
    assert [tuple(r) for r in rows] == [
        ("issue", "reviewer-account"),
        ("revoke", "supervisor-account"),
        ("change", "psql-user"),  # the migration-0001 trigger, for unversioned edits
    ]


COMMITTED_WORLD = """
INSERT INTO admin_regions (code, name, level, parent_code, geom) VALUES
  ('510000', '四川省', 'province', NULL, ST_GeomFromEWKT(:square)),
  ('510104', '锦江区', 'county', '510000', ST_GeomFromEWKT(:square));
INSERT INTO units (credit_code, name, industry_code, category, county_code, status, geom,
                   location_source)
VALUES (:code, '锦江测试有限公司', '2614', 'key', '510104', 'operating',
        ST_GeomFromEWKT('SRID=4326;POINT(106.05 29.05)'), 'surveyed');
INSERT INTO permits (permit_no, unit_id, kind, issued_on, valid_from, valid_to, status, authority)
SELECT :code || '001P', id, 'permit', '2025-01-01', '2025-01-01', '2029-12-31', 'valid', 'x'
FROM units WHERE credit_code = :code;
"""


def test_of_two_concurrent_changes_exactly_one_wins(engine) -> None:
    code = credit_code(777)
    with Session(engine) as setup, setup.begin():  # committed: two transactions must see it
        for statement in COMMITTED_WORLD.split(";\n")[:-1]:
            setup.execute(text(statement), {"code": code, "square": SQUARE})
        permit_id = setup.execute(
            text("SELECT id FROM permits WHERE permit_no = :no"), {"no": f"{code}001P"}
        ).scalar_one()
    outcomes: dict[str, object] = {}
    first_wrote = threading.Event()

    def edit(name: str, wait: threading.Event | None) -> None:
        with Session(engine) as session, session.begin():
            set_actor(session, name)
            try:
                change_permit(
                    session,
                    permit_id=permit_id,
                    version=1,
                    reason=name,
                    amendment=Amendment(authority=name),
                    now=CLOCK.now(),
                    today=TODAY,
                )
                outcomes[name] = "ok"
            except TransitionError as error:
                outcomes[name] = error.field
            if wait is None:
                first_wrote.set()
                threading.Event().wait(0.5)  # hold the row lock while the second one writes

    first = threading.Thread(target=edit, args=("alice", None))
    first.start()
    first_wrote.wait(10)
    edit("bob", first_wrote)  # read version 1 before alice committed; blocks, then loses
    first.join()
    assert outcomes == {"alice": "ok", "bob": "version"}
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT authority, version FROM permits WHERE id = :id"), {"id": permit_id}
        ).one()
        notes = conn.execute(
            text("SELECT note FROM permit_history WHERE permit_id = :id ORDER BY id"),
            {"id": permit_id},
        ).scalars()
        assert tuple(stored) == ("alice", 2) and list(notes) == [None, "alice"]

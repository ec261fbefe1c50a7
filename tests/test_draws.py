"""Random inspections (双随机、一公开) and permit quality spot checks: stratified, reproducible
draws; inspectors assigned at random, never where conflicted; results under optimistic locking;
publication showing public fields only."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from api.routes.draws import new_seed
from geo.clock import FixedClock
from geo.draws import (
    Assignee,
    DrawKind,
    DrawPlan,
    DrawRequest,
    Member,
    NotEnoughAssigneesError,
    create_draw,
    publish_draw,
    quota,
    run_draw,
)
from geo.settings import DatabaseSettings, Settings
from geo.users import SignedIn, create_user, open_session
from tests.conftest import use_session
from tests.factories import COUNTY, SQUARE, add_region, credit_code

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 24)
OTHER = "500117"  # a second county
SUPERVISOR = {"Authorization": "Bearer dev-staff-token"}  # service token, role supervisor
ADMIN = {"Authorization": "Bearer dev-admin-token"}
MARKER = "STAFFONLY"


@pytest.fixture
def client(db_url: str, session: Session) -> Iterator[TestClient]:
    """The app on a fixed clock; requests share the test's rolled-back session."""
    settings = Settings(database=DatabaseSettings(database_url=db_url, db_warm_pool=False))
    app = create_app(settings, clock=FixedClock(NOW))
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


# --- fixtures -----------------------------------------------------------------------------------

_serial = iter(range(100_000, 10**6))


def add_counties(session: Session) -> None:
    add_region(session)
    session.execute(
        text(
            "INSERT INTO admin_regions (code, name, level, parent_code, geom)"
            " VALUES (:c, '合川区', 'county', '500000', ST_GeomFromEWKT(:g))"
        ),
        {"c": OTHER, "g": SQUARE},
    )


def add_units(
    session: Session, count: int, *, category: str, county: str = COUNTY, status: str = "operating"
) -> list[int]:
    """`count` units of one category in one county; their ids."""
    return [
        session.execute(
            text("""
            INSERT INTO units (credit_code, name, industry_code, category, county_code, status,
                               geom, location_source)
            VALUES (:code, :name, '2614', :category, :county, :status,
                    ST_GeomFromEWKT('SRID=4326;POINT(106.05 29.05)'), 'surveyed')
            RETURNING id
        """),
            {
                "code": (code := credit_code(next(_serial))),
                "name": f"抽查测试单位{code[-6:]}",
                "category": category,
                "county": county,
                "status": status,
            },
        ).scalar_one()
        for _ in range(count)
    ]


def add_staff(session: Session, name: str, role: str = "inspector", county: str | None = COUNTY):
    """A user and an API bearer header for them."""
    user_id = create_user(
        session,
        username=name,
        display_name=f"{name}执法员",
        role=role,
        password="correct horse battery",
        county_code=county,
    )
    signed = SignedIn(user_id, name, role, county)
    token = open_session(session, signed, kind="api", now=datetime.now(UTC), lifetime=timedelta(1))
    return user_id, {"Authorization": f"Bearer {token}"}


def add_positive(session: Session, unit_ids: list[int]) -> None:
    session.execute(
        text("INSERT INTO positive_list (unit_id, added_by, added_at) VALUES (:u, 'test', now())"),
        [{"u": u} for u in unit_ids],
    )


@pytest.fixture
def world(session: Session) -> dict:
    """Two counties: A (500116) with 4 key, 10 simplified (3 on the positive list),
    20 registration and 1 closed unit; B (500117) with 3 key and 5 simplified units.
    Inspectors: three in A, two in B, one province-wide; a reviewer; a supervisor."""
    add_counties(session)
    units = {
        "a_key": add_units(session, 4, category="key"),
        "a_simplified": add_units(session, 10, category="simplified"),
        "a_registration": add_units(session, 20, category="registration"),
        "a_closed": add_units(session, 1, category="key", status="closed"),
        "b_key": add_units(session, 3, category="key", county=OTHER),
        "b_simplified": add_units(session, 5, category="simplified", county=OTHER),
    }
    add_positive(session, units["a_simplified"][:3])
    staff = {
        name: add_staff(session, name, county=county)
        for name, county in (
            ("a1", COUNTY),
            ("a2", COUNTY),
            ("a3", COUNTY),
            ("b1", OTHER),
            ("b2", OTHER),
            ("p1", None),
        )
    }
    staff["rev"] = add_staff(session, "rev", role="reviewer")
    return {"units": units, "staff": staff}


INSPECTION = {
    "kind": "inspection",
    "year": 2026,
    "ratios": {"key": 1.0, "simplified": 0.3, "registration": 0.1},
    "positive_list_factor": 0.5,
    "seed": 20261124,
}


def make_draw(client: TestClient, **changes) -> dict:
    response = client.post("/api/draws", json={**INSPECTION, **changes}, headers=SUPERVISOR)
    assert response.status_code == 201, response.text
    return response.json()


# --- the algorithm --------------------------------------------------------------------------------


def test_quota_rounds_up_in_exact_arithmetic() -> None:
    assert 0.07 * 100 > 7  # what float arithmetic would round up to 8
    assert quota(100, 0.07) == 7
    assert quota(10, 0.3) == 3
    assert quota(7, 0.2) == 2
    assert quota(3, 0.3, 0.5) == 1
    assert quota(4, 1.0) == 4
    assert quota(0, 0.5) == 0


def _plan(seed: int, conflicts: frozenset = frozenset()) -> DrawPlan:
    population = tuple(
        Member(i, None, "500116" if i % 3 else "500117", ("key", "simplified")[i % 2], i % 5 == 0)
        for i in range(1, 61)
    )
    pool = tuple(Assignee(100 + i, "500116" if i < 4 else None) for i in range(6))
    ratios = {"key": 1.0, "simplified": 0.25}
    return DrawPlan(seed, ratios, 0.5, 2, population, pool, conflicts)


def test_the_draw_is_a_function_of_its_plan() -> None:
    first, again = run_draw(_plan(7)), run_draw(_plan(7))
    assert first == again
    assert [p.member for p in run_draw(_plan(8))] != [p.member for p in first]
    assert all(len(set(p.assignees)) == 2 for p in first)


def test_conflicts_are_never_assigned_and_an_impossible_unit_is_named() -> None:
    for seed in range(30):
        conflicts = frozenset({(100, u) for u in range(1, 61)} | {(101, 1)})
        for pick in run_draw(_plan(seed, conflicts)):
            assert 100 not in pick.assignees
            if pick.member.unit_id == 1:
                assert 101 not in pick.assignees
    everyone = frozenset((100 + i, 4) for i in range(5))  # unit 4 (a key unit): one left
    with pytest.raises(NotEnoughAssigneesError, match="unit 4 cannot get 2 inspectors"):
        run_draw(_plan(1, everyone))


# --- draws through the API ---------------------------------------------------------------------


def test_strata_counts_follow_the_ratios(client: TestClient, world: dict) -> None:
    draw = make_draw(client)
    strata = {(s["stratum"], s["positive_list"]): (s["size"], s["drawn"]) for s in draw["strata"]}
    assert strata == {
        (f"{COUNTY}/key", False): (4, 4),
        (f"{COUNTY}/simplified", False): (7, math.ceil(0.3 * 7)),  # 3
        (f"{COUNTY}/simplified", True): (3, 1),  # ceil(0.3 × 0.5 × 3)
        (f"{COUNTY}/registration", False): (20, 2),
        (f"{OTHER}/key", False): (3, 3),
        (f"{OTHER}/simplified", False): (5, 2),  # ceil(1.5)
    }
    drawn = {item["unit_id"] for item in draw["items"]}
    units = world["units"]
    assert set(units["a_key"]) | set(units["b_key"]) <= drawn  # every key unit at ratio 1
    assert not drawn & set(units["a_closed"])
    assert draw["population_size"] == 42 and draw["drawn"] == len(draw["items"]) == 15
    assert draw["seed"] == INSPECTION["seed"] and draw["algorithm"] == "python-random-v1"
    only_b = make_draw(client, counties=[OTHER])
    assert {i["county_code"] for i in only_b["items"]} == {OTHER}


def test_two_distinct_inspectors_from_the_units_county(client: TestClient, world: dict) -> None:
    ids = {name: user_id for name, (user_id, _) in world["staff"].items()}
    by_county = {COUNTY: {ids["a1"], ids["a2"], ids["a3"]}, OTHER: {ids["b1"], ids["b2"]}}
    for seed in (1, 2, 3):
        for item in make_draw(client, seed=seed)["items"]:
            assigned = [a["id"] for a in item["assignees"]]
            assert len(set(assigned)) == 2
            assert set(assigned) <= by_county[item["county_code"]]
            assert ids["rev"] not in assigned


def test_recorded_conflicts_are_never_assigned(client: TestClient, world: dict) -> None:
    a1 = world["staff"]["a1"][0]
    unit = world["units"]["a_key"][0]
    response = client.post(
        "/api/inspection-conflicts",
        json={"inspector_id": a1, "unit_id": unit, "reason": f"{MARKER} 亲属任职"},
        headers=SUPERVISOR,
    )
    assert response.status_code == 201, response.text
    again = client.post(
        "/api/inspection-conflicts",
        json={"inspector_id": a1, "unit_id": unit, "reason": "twice"},
        headers=SUPERVISOR,
    )
    assert again.status_code == 409
    for seed in range(12):
        item = next(i for i in make_draw(client, seed=seed)["items"] if i["unit_id"] == unit)
        assert a1 not in [a["id"] for a in item["assignees"]]
    listed = client.get("/api/inspection-conflicts", params={"unit_id": unit}, headers=SUPERVISOR)
    assert [c["inspector_id"] for c in listed.json()] == [a1]


def test_an_impossible_assignment_is_a_400_naming_the_unit(client: TestClient, world: dict) -> None:
    unit = world["units"]["b_key"][0]
    for name in ("a1", "a2", "a3", "b1", "b2"):
        client.post(
            "/api/inspection-conflicts",
            json={"inspector_id": world["staff"][name][0], "unit_id": unit, "reason": "前雇主"},
            headers=SUPERVISOR,
        )
    response = client.post("/api/draws", json=INSPECTION, headers=SUPERVISOR)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == "inspectors_per_unit"
    assert f"unit {unit} cannot get 2 inspectors" in problem["title"]
    one = client.post(
        "/api/draws", json={**INSPECTION, "inspectors_per_unit": 1}, headers=SUPERVISOR
    )
    assert one.status_code == 201  # p1, province-wide, is still free


def test_replay_from_the_record_is_identical_after_the_world_changed(
    client: TestClient, world: dict, session: Session
) -> None:
    draw = make_draw(client)
    units = world["units"]
    # the world moves on: categories change, units open and close, lists and conflicts change
    session.execute(
        text("UPDATE units SET category = 'key' WHERE id = ANY(:ids)"),
        {"ids": units["a_registration"][:5]},
    )
    session.execute(
        text("UPDATE units SET status = 'closed' WHERE id = ANY(:ids)"), {"ids": units["b_key"]}
    )
    add_units(session, 7, category="simplified")
    add_positive(session, units["a_key"])
    session.execute(text("UPDATE users SET active = false WHERE username = 'a2'"))
    add_staff(session, "a4")
    session.execute(
        text(
            "INSERT INTO inspection_conflicts (inspector_id, unit_id, reason, recorded_by,"
            " recorded_at) VALUES (:u, :unit, 'later', 'test', now())"
        ),
        {"u": world["staff"]["a1"][0], "unit": units["a_key"][1]},
    )
    replay = client.post(f"/api/draws/{draw['id']}/replay", headers=SUPERVISOR).json()
    assert replay["identical"] is True, replay
    assert replay["replayed_digest"] == replay["digest"] == draw["digest"]
    assert replay["items"] == len(draw["items"]) and replay["differences"] == []
    # the same seed over today's world gives another draw: the record is what makes it repeatable
    fresh = make_draw(client)
    assert fresh["digest"] != draw["digest"]


def test_a_draws_record_cannot_be_rewritten(
    client: TestClient, world: dict, session: Session
) -> None:
    draw = make_draw(client)
    for statement in (
        "UPDATE draws SET seed = seed + 1 WHERE id = :id",
        "UPDATE draw_items SET assignee_ids = '{}' WHERE draw_id = :id",
        "DELETE FROM draw_items WHERE draw_id = :id",
        "DELETE FROM draws WHERE id = :id",
    ):
        with pytest.raises(Exception, match="cannot be rewritten"), session.begin_nested():
            session.execute(text(statement), {"id": draw["id"]})


def test_a_seed_is_drawn_and_stored_when_none_is_given(client: TestClient, world: dict) -> None:
    client.app.dependency_overrides[new_seed] = lambda: 987654321
    body = {k: v for k, v in INSPECTION.items() if k != "seed"}
    response = client.post("/api/draws", json=body, headers=SUPERVISOR)
    assert response.json()["seed"] == 987654321
    listed = client.get("/api/draws", headers=SUPERVISOR).json()
    assert listed[0]["seed"] == 987654321
    assert listed[0]["parameters"]["ratios"] == INSPECTION["ratios"]
    defaults = client.post("/api/draws", json={"kind": "inspection", "year": 2026}, headers=ADMIN)
    assert defaults.json()["parameters"]["ratios"] == {
        "key": 1.0,
        "simplified": 0.2,
        "registration": 0.05,
    }
    assert defaults.json()["parameters"]["positive_list_factor"] == 0.5


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"counties": ["999999"]}, 422, "counties"),
        ({"counties": []}, 422, "counties"),
        ({"ratios": {"simplified": 1.5}}, 422, "body.ratios.simplified"),
        ({"ratios": {"key": -0.1}}, 422, "body.ratios.key"),
        ({"ratios": {"first": 0.3}}, 422, "ratios.first"),
        ({"positive_list_factor": 2}, 422, "body.positive_list_factor"),
        ({"inspectors_per_unit": 7}, 422, "body.inspectors_per_unit"),
        ({"kind": "sightseeing"}, 422, "body.kind"),
        ({"year": 1999}, 422, "body.year"),
    ],
)
def test_bad_draw_requests_are_problems_naming_the_field(
    client: TestClient, world: dict, change: dict, status: int, field: str
) -> None:
    response = client.post("/api/draws", json={**INSPECTION, **change}, headers=SUPERVISOR)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    fields = [e["field"] for e in problem.get("errors", [])] + [problem.get("field")]
    assert field in fields, problem


# --- results ------------------------------------------------------------------------------------


def _assigned(draw: dict, world: dict, unit_id: int) -> tuple[dict, dict]:
    """(headers of an assigned inspector, headers of an inspector not assigned) for a unit."""
    item = next(i for i in draw["items"] if i["unit_id"] == unit_id)
    assigned = {a["id"] for a in item["assignees"]}
    mine = next(h for uid, h in world["staff"].values() if uid in assigned)
    other = next(h for n, (uid, h) in world["staff"].items() if uid not in assigned and n != "rev")
    return mine, other


def test_results_are_entered_by_the_assigned_inspectors_under_a_version(
    client: TestClient, world: dict
) -> None:
    draw = make_draw(client)
    unit = world["units"]["a_key"][0]
    mine, other = _assigned(draw, world, unit)
    url = f"/api/draws/{draw['id']}/results"
    body = {"unit_id": unit, "conclusion": "compliant", "inspected_on": "2026-11-24"}
    assert client.post(url, json=body, headers=other).status_code == 403
    created = client.post(url, json={**body, "findings": "台账齐全"}, headers=mine)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.json()["entered_by"] in ("a1", "a2", "a3")
    duplicate = client.post(url, json=body, headers=SUPERVISOR)
    assert duplicate.status_code == 409
    change = {"conclusion": "problems_found", "inspected_on": "2026-11-24", "version": 1}
    first = client.put(f"{url}/{unit}", json=change, headers=SUPERVISOR)
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = client.put(f"{url}/{unit}", json={**change, "conclusion": "compliant"}, headers=mine)
    assert stale.status_code == 409
    assert "version 2" in stale.json()["title"]
    item = next(
        i
        for i in client.get(f"/api/draws/{draw['id']}", headers=mine).json()["items"]
        if i["unit_id"] == unit
    )
    assert item["result"]["conclusion"] == "problems_found" and item["result"]["version"] == 2


def test_bad_results_are_problems(client: TestClient, world: dict) -> None:
    draw = make_draw(client)
    url = f"/api/draws/{draw['id']}/results"
    drawn = {i["unit_id"] for i in draw["items"]}
    not_drawn = next(u for u in world["units"]["a_registration"] if u not in drawn)
    body = {"unit_id": not_drawn, "conclusion": "compliant", "inspected_on": "2026-11-24"}
    response = client.post(url, json=body, headers=SUPERVISOR)
    assert response.status_code == 400 and response.json()["field"] == "unit_id"
    unit = world["units"]["a_key"][0]
    future = client.post(
        url, json={**body, "unit_id": unit, "inspected_on": "2026-12-01"}, headers=SUPERVISOR
    )
    assert future.status_code == 422 and future.json()["field"] == "inspected_on"
    bad = client.post(url, json={**body, "unit_id": unit, "conclusion": "fine"}, headers=SUPERVISOR)
    assert bad.status_code == 422
    missing = client.post("/api/draws/999999/results", json=body, headers=SUPERVISOR)
    assert missing.status_code == 404
    no_result = client.put(
        f"{url}/{unit}",
        json={"conclusion": "compliant", "inspected_on": "2026-11-24", "version": 1},
        headers=SUPERVISOR,
    )
    assert no_result.status_code == 404


# --- roles and audit ------------------------------------------------------------------------------


def test_roles(client: TestClient, world: dict) -> None:
    inspector = world["staff"]["a1"][1]
    reviewer = world["staff"]["rev"][1]
    assert client.post("/api/draws", json=INSPECTION).status_code == 401
    assert client.post("/api/draws", json=INSPECTION, headers=inspector).status_code == 403
    draw = make_draw(client)
    assert client.post(f"/api/draws/{draw['id']}/publish", headers=inspector).status_code == 403
    assert client.get("/api/draws").status_code == 401
    assert client.get("/api/draws", headers=inspector).status_code == 200
    conflict = {"inspector_id": 1, "unit_id": 1, "reason": "x"}
    assert (
        client.post("/api/inspection-conflicts", json=conflict, headers=reviewer).status_code == 403
    )
    assert client.get("/api/inspection-conflicts", headers=inspector).status_code == 403
    unit = world["units"]["b_key"][0]
    assert client.post(f"/api/positive-list/{unit}", headers=inspector).status_code == 403
    added = client.post(f"/api/positive-list/{unit}", json={"reason": "守法"}, headers=SUPERVISOR)
    assert added.status_code == 201
    assert client.post(f"/api/positive-list/{unit}", headers=SUPERVISOR).status_code == 409
    listed = client.get("/api/positive-list", headers=inspector).json()
    assert unit in {e["unit_id"] for e in listed}
    assert client.delete(f"/api/positive-list/{unit}", headers=SUPERVISOR).status_code == 204
    assert client.delete(f"/api/positive-list/{unit}", headers=SUPERVISOR).status_code == 404


def test_writes_are_audited(client: TestClient, world: dict, session: Session) -> None:
    draw = make_draw(client)
    unit = world["units"]["a_key"][0]
    body = {"unit_id": unit, "conclusion": "compliant", "inspected_on": "2026-11-24"}
    client.post(f"/api/draws/{draw['id']}/results", json=body, headers=SUPERVISOR)
    client.put(
        f"/api/draws/{draw['id']}/results/{unit}",
        json={**body, "conclusion": "problems_found", "version": 1},
        headers=SUPERVISOR,
    )
    client.post(f"/api/draws/{draw['id']}/publish", headers=SUPERVISOR)
    rows = session.execute(
        text(
            "SELECT entity, action, actor, before, after FROM audit_log"
            " WHERE entity IN ('draws', 'draw_items', 'inspection_results') ORDER BY id"
        )
    ).all()
    actions = Counter((r.entity, r.action) for r in rows)
    assert actions[("draws", "insert")] == 1 and actions[("draws", "update")] == 1
    assert actions[("draw_items", "insert")] == len(draw["items"])
    assert actions[("inspection_results", "insert")] == 1
    assert actions[("inspection_results", "update")] == 1
    assert {r.actor for r in rows} == {"dev-staff"}
    inserted = next(r for r in rows if r.entity == "draws" and r.action == "insert")
    assert inserted.after["seed"] == INSPECTION["seed"] and "population" not in inserted.after
    updated = next(r for r in rows if r.entity == "inspection_results" and r.action == "update")
    assert (updated.before["version"], updated.after["version"]) == (1, 2)


# --- permit quality spot checks -------------------------------------------------------------------


def add_permits_with_history(session: Session, count: int, change: str, at: str) -> list[int]:
    """`count` simplified units, each with a permit whose history shows `change` at `at`."""
    permit_ids = []
    for unit_id in add_units(session, count, category="simplified"):
        code = session.execute(
            text("SELECT credit_code FROM units WHERE id = :id"), {"id": unit_id}
        ).scalar_one()
        permit_id = session.execute(
            text("""
            INSERT INTO permits (permit_no, unit_id, kind, issued_on, valid_from, valid_to,
                                 status, authority)
            VALUES (:no, :unit, 'permit', '2024-01-01', '2024-01-01', '2028-12-31', 'valid',
                    '重庆市江津区生态环境局')
            RETURNING id
        """),
            {"no": f"{code}001P", "unit": unit_id},
        ).scalar_one()
        session.execute(
            text(
                "INSERT INTO permit_history (permit_id, change, changed_at, after)"
                " VALUES (:p, :change, :at, '{}')"
            ),
            {"p": permit_id, "change": change, "at": at},
        )
        permit_ids.append(permit_id)
    return permit_ids


def test_permit_quality_spot_check_takes_30_and_20_percent(
    client: TestClient, world: dict, session: Session
) -> None:
    world["rev2"] = add_staff(session, "rev2", role="reviewer", county=None)[0]
    first = add_permits_with_history(session, 10, "issue", "2024-05-01 10:00+08")
    renewed = add_permits_with_history(session, 6, "renew", "2024-12-31 23:30+08")
    add_permits_with_history(session, 4, "issue", "2023-12-31 23:30+08")  # the year before
    add_permits_with_history(session, 3, "change", "2024-06-01 10:00+08")  # not an application
    response = client.post(
        "/api/draws", json={"kind": "permit_quality", "year": 2024, "seed": 5}, headers=SUPERVISOR
    )
    assert response.status_code == 201, response.text
    draw = response.json()
    assert draw["parameters"]["ratios"] == {"first": 0.3, "renewal": 0.2}
    strata = {s["stratum"]: (s["size"], s["drawn"]) for s in draw["strata"]}
    assert strata == {f"{COUNTY}/first": (10, 3), f"{COUNTY}/renewal": (6, 2)}
    permits = [i["permit_id"] for i in draw["items"]]
    assert sum(p in first for p in permits) == 3 and sum(p in renewed for p in permits) == 2
    assert all(i["permit_no"].endswith("001P") for i in draw["items"])
    reviewers = {world["staff"]["rev"][0], world["rev2"]}
    assert all({a["id"] for a in i["assignees"]} == reviewers for i in draw["items"])
    replay = client.post(f"/api/draws/{draw['id']}/replay", headers=SUPERVISOR).json()
    assert replay["identical"] is True
    nothing = client.post(
        "/api/draws", json={"kind": "permit_quality", "year": 2020}, headers=SUPERVISOR
    )
    assert nothing.status_code == 422 and nothing.json()["field"] == "year"


# --- publication --------------------------------------------------------------------------------


def add_published_draw(session: Session) -> int:
    """A published inspection draw over whatever units exist, with two inspectors, a
    conflict and a result whose staff-only parts carry the STAFFONLY marker (the public walk
    uses it)."""
    inspectors = [
        create_user(
            session,
            username=f"draw-inspector-{i}",
            display_name=f"抽查检查员{i}",
            role="inspector",
            password="correct horse battery",
        )
        for i in range(3)
    ]
    unit = session.execute(
        text("SELECT min(id) FROM units WHERE status <> 'closed' AND category = 'key'")
    ).scalar_one()
    session.execute(
        text(
            "INSERT INTO inspection_conflicts (inspector_id, unit_id, reason, recorded_by,"
            " recorded_at) VALUES (:u, :unit, :reason, 'test', now())"
        ),
        {"u": inspectors[0], "unit": unit, "reason": f"{MARKER} 亲属"},
    )
    request = DrawRequest(DrawKind.INSPECTION, 2026, period="2026-Q4")
    draw_id = create_draw(session, request, seed=11, now=NOW, today=TODAY, actor="test")
    item = session.execute(
        text("SELECT id FROM draw_items WHERE draw_id = :d AND unit_id = :u"),
        {"d": draw_id, "u": unit},
    ).scalar_one()
    session.execute(
        text(
            "INSERT INTO inspection_results (draw_id, item_id, conclusion, findings,"
            " inspected_on, entered_by) VALUES (:d, :i, 'compliant', :f, :on, 'test')"
        ),
        {"d": draw_id, "i": item, "f": f"{MARKER} 现场记录", "on": TODAY},
    )
    publish_draw(session, draw_id, now=NOW, actor="test")
    return draw_id


def test_publication_shows_public_fields_only(
    client: TestClient, world: dict, session: Session
) -> None:
    from tests.test_public_leak import RULES, find_leaks

    draw = make_draw(client)
    unit = world["units"]["a_key"][0]
    client.post(
        "/api/inspection-conflicts",
        json={"inspector_id": world["staff"]["p1"][0], "unit_id": unit, "reason": MARKER},
        headers=SUPERVISOR,
    )
    result = {
        "unit_id": unit,
        "conclusion": "compliant",
        "inspected_on": "2026-11-24",
        "findings": f"{MARKER} 现场照片",
    }
    client.post(f"/api/draws/{draw['id']}/results", json=result, headers=SUPERVISOR)
    public = f"/api/public/draws/{draw['id']}"
    assert client.get(public).status_code == 404
    assert client.get("/api/public/draws").json() == []
    assert client.get(f"/public/draws/{draw['id']}").status_code == 404
    published = client.post(f"/api/draws/{draw['id']}/publish", headers=SUPERVISOR)
    assert published.status_code == 200 and published.json()["published_by"] == "dev-staff"
    assert client.post(f"/api/draws/{draw['id']}/publish", headers=SUPERVISOR).status_code == 409

    listed = client.get("/api/public/draws").json()
    assert [d["id"] for d in listed] == [draw["id"]]
    assert listed[0]["published_on"] == "2026-11-24" and listed[0]["results"] == 1
    answer = client.get(public)
    record = answer.json()
    assert set(record) == {
        *("id", "kind", "year", "period", "drawn_on", "published_on", "seed", "algorithm"),
        *("digest", "parameters", "population_size", "drawn", "results", "strata", "items"),
    }
    assert set(record["parameters"]) == {
        "ratios",
        "positive_list_factor",
        "counties",
        "inspectors_per_unit",
    }
    item = next(i for i in record["items"] if i["credit_code"] in _codes(session, unit))
    assert set(item) == {
        *("seq", "name", "credit_code", "county_code", "class", "permit_no"),
        *("inspectors", "conclusion"),
    }
    assert item["conclusion"] == "compliant" and all("执法员" in n for n in item["inspectors"])
    assert sum(i["conclusion"] is None for i in record["items"]) == len(record["items"]) - 1
    for body in (answer.content, client.get("/api/public/draws").content):
        assert MARKER.encode() not in body
        for word in (b"assignee", b'positive_list"', b"findings", b"drawn_by", b'population"'):
            assert word not in body
    assert (
        find_leaks(RULES, "/api/public/draws/{draw_id}", "application/json", answer.content, None)
        == []
    )

    page = client.get(f"/public/draws/{draw['id']}")
    assert page.status_code == 200 and "nonce-" in page.headers["content-security-policy"]
    html = page.text
    assert MARKER not in html and item["name"] in html and item["inspectors"][0] in html
    assert "未发现问题" in html and "待录入" in html and "双随机执法检查" in html
    listing = client.get("/public/draws?lang=en")
    assert listing.status_code == 200 and f"/public/draws/{draw['id']}" in listing.text
    assert "Random inspection" in listing.text


def _codes(session: Session, unit_id: int) -> set[str]:
    return set(
        session.execute(
            text("SELECT credit_code FROM units WHERE id = :id"), {"id": unit_id}
        ).scalars()
    )


def test_the_walk_helper_publishes_a_draw(client: TestClient, session: Session) -> None:
    add_counties(session)
    add_units(session, 3, category="key")
    draw_id = add_published_draw(session)
    record = client.get(f"/api/public/draws/{draw_id}").json()
    assert record["drawn"] == 3 and record["results"] == 1 and record["period"] == "2026-Q4"
    assert MARKER not in client.get(f"/public/draws/{draw_id}").text

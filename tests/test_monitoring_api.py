"""Online monitoring through the API (real PostGIS): events and the problem an event opens,
special periods and special limits (audited), thresholds, devices; the enforcement status and
the outlets layer's live status that open events give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.clock import FixedClock
from geo.monitoring.checks import run_checks
from geo.monitoring.readings import ReadingRow, known_months, store_readings
from layers.declarations import Audience
from layers.registry import ENFORCEMENT_STATUS, LAYERS
from layers.sources import select_list
from tests.conftest import use_session
from tests.factories import COUNTY
from tests.layer_fixtures import EXPECTED_STATUS, World, build_world
from tests.roles import as_role, role_settings
from tests.test_unit_status import PRIORITY  # the 12 levels, declared once

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in China
TODAY = date(2026, 11, 24)


@pytest.fixture
def api(db_url, session):
    app = create_app(role_settings(db_url), clock=FixedClock(NOW))
    use_session(app, session)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def world(session: Session) -> World:
    return build_world(session)


def add_event(
    session: Session, outlet_id: int, kind: str = "exceedance", *, ended: bool = False
) -> int:
    rule = {"exceedance": "hourly_average", "abnormal": "device_flag", "offline": "missing"}[kind]
    return session.execute(
        text("""
        INSERT INTO monitoring_events (outlet_id, mn, pollutant_code, kind, rule, started_at,
                                       ended_at, peak_value, peak_at, limit_value, detail)
        VALUES (:o, CASE WHEN :kind = 'offline' THEN 'MN0001' END,
                CASE WHEN :kind <> 'offline' THEN 'w01018' END, :kind, :rule,
                :start, CASE WHEN :ended THEN CAST(:start AS timestamptz) + interval '1 hour' END,
                CASE WHEN :kind = 'exceedance' THEN 78.5 END, :start,
                CASE WHEN :kind = 'exceedance' THEN 50 END,
                CASE WHEN :kind = 'abnormal' THEN 'flag D 故障 fault' END)
        RETURNING id
    """),
        {"o": outlet_id, "kind": kind, "rule": rule, "start": NOW - timedelta(hours=3),
         "ended": ended},
    ).scalar_one()  # fmt: skip


# --- events and problems ------------------------------------------------------------------------


def test_events_are_listed_with_filters(api, session, world) -> None:
    valid, flagged = world.outlets["valid"], world.outlets["outlet_flag"]
    open_id = add_event(session, valid)
    closed_id = add_event(session, valid, "abnormal", ended=True)
    offline_id = add_event(session, flagged, "offline")
    staff = as_role("inspector")

    def ids(**params) -> list[int]:
        response = api.get("/api/monitoring/events", params=params, headers=staff)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()]

    assert sorted(ids()) == sorted([open_id, closed_id, offline_id])
    assert sorted(ids(open="true")) == sorted([open_id, offline_id])
    assert ids(kind="offline") == [offline_id]
    assert sorted(ids(outlet_id=valid)) == sorted([open_id, closed_id])
    assert ids(unit_id=world.units["outlet_flag"]) == [offline_id]
    assert sorted(ids(county=COUNTY)) == sorted([open_id, closed_id, offline_id])
    assert ids(county="500117") == []
    assert sorted(ids(since=(NOW - timedelta(minutes=30)).isoformat())) == sorted(
        [open_id, offline_id]
    )
    assert api.get("/api/monitoring/events", params={"kind": "x"}, headers=staff).status_code == 422
    one = api.get(f"/api/monitoring/events/{open_id}", headers=staff).json()
    assert (one["pollutant_name"], one["concentration_unit"], one["open"]) == (
        "化学需氧量",
        "mg/L",
        True,
    )
    assert (one["peak_value"], one["limit_value"], one["unit_name"]) == (78.5, 50, "测试单位valid")
    assert api.get("/api/monitoring/events/999999", headers=staff).status_code == 404
    assert api.get("/api/monitoring/events").status_code == 401


def test_an_event_opens_its_problem_once(api, session, world) -> None:
    event_id = add_event(session, world.outlets["valid"])
    body = {"department": "江津区生态环境局执法支队", "deadline": "2027-03-24"}
    url = f"/api/monitoring/events/{event_id}/problem"
    response = api.post(url, json=body, headers=as_role("inspector"))
    assert response.status_code == 201, response.text
    problem = response.json()
    assert (problem["source"], problem["problem_type"]) == ("monitoring", "monitoring_exceedance")
    assert (problem["unit_id"], problem["outlet_id"]) == (
        world.units["valid"], world.outlets["valid"]
    )  # fmt: skip
    finding = problem["finding"]
    assert "化学需氧量（w01018）" in finding and "小时均值超标" in finding
    assert "峰值78.5 mg/L（2026-11-24 07:00）" in finding and "限值50 mg/L" in finding
    assert "至今未恢复" in finding
    again = api.post(url, json=body, headers=as_role("supervisor"))
    assert again.status_code == 409 and str(problem["id"]) in again.json()["title"]
    linked = api.get(f"/api/monitoring/events/{event_id}", headers=as_role("reviewer")).json()
    assert linked["problem_id"] == problem["id"]
    assert api.post(url, json=body).status_code == 401


def test_abnormal_and_offline_events_open_their_kind_of_problem(api, session, world) -> None:
    for kind, text_part in (("abnormal", "设备状态异常"), ("offline", "数采仪MN0001")):
        event_id = add_event(session, world.outlets["valid"], kind, ended=True)
        response = api.post(
            f"/api/monitoring/events/{event_id}/problem",
            json={"department": "执法支队", "finding": None},
            headers=as_role("reviewer"),
        )
        assert response.status_code == 201, response.text
        assert response.json()["problem_type"] == f"monitoring_{kind}"
        assert text_part in response.json()["finding"]
    missing = api.post(
        "/api/monitoring/events/999999/problem",
        json={"department": "执法支队"},
        headers=as_role("inspector"),
    )
    assert missing.status_code == 404


def test_events_come_from_the_checks(api, session, world) -> None:
    outlet = world.outlets["valid"]
    hour = NOW - timedelta(hours=2)
    rows = [ReadingRow(outlet, "w01018", 2061, hour, 95.0, flag="N")]
    store_readings(session, rows, known_months(session))
    (event_id,) = run_checks(session, now=NOW).opened
    listed = api.get("/api/monitoring/events", headers=as_role("inspector")).json()
    assert [(e["id"], e["rule"], e["peak_value"]) for e in listed] == [
        (event_id, "hourly_average", 95.0)
    ]


# --- special periods, special limits, thresholds, devices ---------------------------------------


def audit(session: Session, entity: str) -> list:
    return session.execute(
        text("SELECT actor, action, entity_id, before, after FROM audit_log"
             " WHERE entity = :e ORDER BY id"),
        {"e": entity},
    ).all()  # fmt: skip


def test_special_periods_are_declared_ended_and_audited(api, session, world) -> None:
    body = {
        "name": "重污染天气橙色预警",
        "county_code": COUNTY,
        "starts_on": "2026-11-23",
        "ends_on": "2026-11-30",
        "reason": "市重污染天气应急指挥部办公室通知",
    }
    url = "/api/monitoring/special-periods"
    assert api.post(url, json=body, headers=as_role("inspector")).status_code == 403
    created = api.post(url, json=body, headers=as_role("supervisor"))
    assert created.status_code == 201, created.text
    period = created.json()
    assert (period["county_name"], period["in_force_today"]) == ("江津区", True)
    province = api.post(
        url,
        json={**body, "county_code": None, "starts_on": "2026-12-01", "ends_on": "2026-12-03"},
        headers=as_role("admin"),
    ).json()
    listed = api.get(url, params={"county": COUNTY}, headers=as_role("reviewer")).json()
    assert [p["id"] for p in listed] == [province["id"], period["id"]]
    today_only = api.get(url, params={"active_on": "2026-11-24"}, headers=as_role("reviewer"))
    assert [p["id"] for p in today_only.json()] == [period["id"]]
    end = f"{url}/{period['id']}/end"
    ended = api.post(end, json={}, headers=as_role("supervisor"))
    assert ended.status_code == 200 and ended.json()["ends_on"] == "2026-11-24"
    assert (
        api.post(end, json={"last_day": "2026-11-28"}, headers=as_role("supervisor")).status_code
        == 409
    )
    early = api.post(end, json={"last_day": "2026-11-01"}, headers=as_role("supervisor"))
    assert early.status_code == 422 and early.json()["field"] == "last_day"
    rows = audit(session, "special_periods")
    assert [(r.actor, r.action) for r in rows] == [
        ("supervisor-account", "insert"),
        ("admin-account", "insert"),
        ("supervisor-account", "update"),
    ]
    assert (rows[2].before["ends_on"], rows[2].after["ends_on"]) == ("2026-11-30", "2026-11-24")


def test_bad_periods_are_refused(api, world) -> None:
    url = "/api/monitoring/special-periods"
    base = {"name": "预警", "starts_on": "2026-11-23", "ends_on": "2026-11-30"}
    for change, field in (
        ({"county_code": "500000"}, "county_code"),  # the province is not a county
        ({"ends_on": "2026-11-01"}, "ends_on"),
        ({"ends_on": "2028-01-01"}, "ends_on"),
        ({"name": "  "}, "name"),
    ):
        response = api.post(url, json={**base, **change}, headers=as_role("supervisor"))
        assert response.status_code == 422, (change, response.text)
        assert response.json()["field"] == field


def test_special_limits_are_set_cleared_and_audited(api, session, world) -> None:
    outlet = world.outlets["valid"]
    url = f"/api/outlets/{outlet}/pollutants/w01018/special-limit"
    assert api.put(url, json={"special_limit": 30}, headers=as_role("reviewer")).status_code == 403
    response = api.put(url, json={"special_limit": 30}, headers=as_role("supervisor"))
    assert response.status_code == 200, response.text
    assert (response.json()["special_limit"], response.json()["concentration_limit"]) == (30, 50)
    too_high = api.put(url, json={"special_limit": 60}, headers=as_role("supervisor"))
    assert too_high.status_code == 422 and too_high.json()["field"] == "special_limit"
    cleared = api.put(url, json={"special_limit": None}, headers=as_role("supervisor"))
    assert cleared.json()["special_limit"] is None
    unknown = f"/api/outlets/{outlet}/pollutants/a21026/special-limit"
    assert (
        api.put(unknown, json={"special_limit": 1}, headers=as_role("supervisor")).status_code
        == 404
    )
    changes = [
        (r.actor, r.before["special_limit"], r.after["special_limit"])
        for r in audit(session, "outlet_pollutants")
        if r.action == "update"
    ]
    assert changes == [("supervisor-account", None, 30.0), ("supervisor-account", 30.0, None)]


def test_thresholds_are_configured_by_admins(api, session) -> None:
    url = "/api/monitoring/thresholds/w01001"
    default = api.get(url, headers=as_role("admin")).json()
    assert default == {
        "pollutant_code": "w01001",
        "range_min": None,
        "range_max": None,
        "constant_intervals": 10,
        "configured": False,
    }
    body = {"range_min": 0, "range_max": 14, "constant_intervals": 6}
    assert api.put(url, json=body, headers=as_role("supervisor")).status_code == 403
    assert api.put(url, json=body, headers=as_role("admin")).json()["configured"] is True
    assert api.put(url, json={**body, "range_max": 12}, headers=as_role("admin")).status_code == 200
    wrong = api.put(url, json={"range_min": 5, "range_max": 1}, headers=as_role("admin"))
    assert wrong.status_code == 422 and wrong.json()["field"] == "range_max"
    bad_code = api.get("/api/monitoring/thresholds/x01", headers=as_role("admin"))
    assert bad_code.status_code == 422 and bad_code.json()["field"] == "pollutant_code"
    rows = audit(session, "monitoring_thresholds")
    assert [(r.action, r.entity_id) for r in rows] == [("insert", "w01001"), ("update", "w01001")]
    assert (rows[1].before["range_max"], rows[1].after["range_max"]) == (14, 12)


def test_devices_are_registered_by_admins_and_never_show_passwords(api, session, world) -> None:
    body = {"mn": "88888880000001", "outlet_id": world.outlets["valid"], "password": "s3cret"}
    url = "/api/monitoring/devices"
    assert api.post(url, json=body, headers=as_role("supervisor")).status_code == 403
    created = api.post(url, json=body, headers=as_role("admin"))
    assert created.status_code == 201, created.text
    device = created.json()
    assert (device["mn"], device["live_status"], device["last_seen"]) == (
        "88888880000001", "normal", None
    )  # fmt: skip
    listed = api.get(url, headers=as_role("inspector"))
    assert [d["mn"] for d in listed.json()] == ["88888880000001"]
    assert "password" not in listed.text and "sha256" not in listed.text
    assert api.get(url, params={"county": "500117"}, headers=as_role("inspector")).json() == []
    bad = api.post(url, json={**body, "mn": "bad mn!"}, headers=as_role("admin"))
    assert bad.status_code == 422
    (row,) = audit(session, "monitoring_devices")
    assert (row.actor, row.action, row.entity_id) == ("admin-account", "insert", "88888880000001")
    assert "password_sha256" not in row.after


# --- enforcement status and the outlets layer ---------------------------------------------------


def statuses(session: Session) -> dict[int, tuple[str, int]]:
    rows = session.execute(
        text("SELECT unit_id, enforcement_status, open_monitoring_events FROM unit_status")
    ).all()
    return {r.unit_id: (r.enforcement_status, r.open_monitoring_events) for r in rows}


def add_problem(session: Session, unit_id: int, deadline_days: int) -> None:
    session.execute(
        text("""
        INSERT INTO problems (source, problem_type, unit_id, finding, department, deadline,
                              opened_on, opened_by)
        VALUES ('inspection', 'rectification_order', :u, '现场检查发现问题', '执法支队',
                current_date + :d, current_date - 200, 'tester')
    """),
        {"u": unit_id, "d": deadline_days},
    )


def test_the_legend_has_the_twelve_levels_in_priority_order() -> None:
    assert tuple(c.value for c in ENFORCEMENT_STATUS.classes) == PRIORITY
    colours = [c.color for c in ENFORCEMENT_STATUS.classes]
    assert len(set(colours)) == len(colours)


@pytest.mark.parametrize(
    ("start", "event", "problem_days", "expected"),
    [
        ("valid", "exceedance", None, "exceedance"),
        ("valid", "abnormal", None, "monitoring_abnormal"),
        ("valid", "offline", None, "monitoring_abnormal"),
        ("expiring", "abnormal", None, "monitoring_abnormal"),
        ("warning", "abnormal", None, "monitoring_abnormal"),
        ("valid", "exceedance", -10, "exceedance"),  # above an overdue problem
        ("valid", "abnormal", 60, "open_problem"),  # below an open problem
        ("expired_by_date", "exceedance", None, "expired"),  # below the permit states
        ("outlet_flag", "exceedance", None, "violation"),
    ],
)
def test_open_events_feed_the_enforcement_status(
    session, world, start, event, problem_days, expected
) -> None:
    unit = world.units[start]
    outlet = world.outlets.get(start)
    if outlet is None:
        outlet = session.execute(
            text("INSERT INTO outlets (unit_id, code, medium, kind, geom) SELECT id, 'DW009',"
                 " 'water', 'main', geom FROM units WHERE id = :u RETURNING id"),
            {"u": unit},
        ).scalar_one()  # fmt: skip
    add_event(session, outlet, event)
    if problem_days is not None:
        add_problem(session, unit, problem_days)
    found = statuses(session)
    assert found[unit] == (expected, 1)
    others = {k: found[u][0] for k, u in world.units.items() if u != unit}
    assert others == {k: EXPECTED_STATUS[k][1] for k in others}


def test_closed_events_count_for_nothing(session, world) -> None:
    add_event(session, world.outlets["valid"], "exceedance", ended=True)
    assert statuses(session)[world.units["valid"]] == ("valid", 0)


def live(session: Session, outlet_id: int) -> str:
    return session.execute(
        text("SELECT live_status FROM layer_outlets WHERE id = :o"), {"o": outlet_id}
    ).scalar_one()


def test_outlets_carry_their_live_status(session, world) -> None:
    outlet = world.outlets["valid"]
    assert live(session, outlet) == "not_monitored"
    session.execute(
        text("INSERT INTO monitoring_devices (mn, outlet_id, password_sha256)"
             " VALUES ('MN0001', :o, repeat('a', 64))"),
        {"o": outlet},
    )  # fmt: skip
    assert live(session, outlet) == "normal"
    for kind, expected in (("abnormal", "abnormal"), ("exceedance", "exceedance"),
                           ("offline", "offline")):  # fmt: skip
        add_event(session, outlet, kind)
        assert live(session, outlet) == expected
    assert "live_status" in {f.name for f in LAYERS["outlets"].fields_for(Audience.STAFF)}
    assert "live_status" not in {f.name for f in LAYERS["outlets"].fields_for(Audience.PUBLIC)}


def test_event_writes_that_change_the_map_bump_the_data_version(session, world) -> None:
    def version() -> int:
        return session.execute(
            text("SELECT coalesce(max(version), 0) FROM data_versions"
                 " WHERE source = 'monitoring_events'")
        ).scalar_one()  # fmt: skip

    before = version()
    event_id = add_event(session, world.outlets["valid"])
    assert version() == before + 1
    session.execute(text("UPDATE monitoring_events SET peak_value = 99 WHERE id = :id"),
                    {"id": event_id})  # fmt: skip
    assert version() == before + 1  # a higher peak: same map
    session.execute(text("UPDATE monitoring_events SET ended_at = now() WHERE id = :id"),
                    {"id": event_id})  # fmt: skip
    assert version() == before + 2


def plan(session: Session, sql: str) -> str:
    rows = session.execute(text(f"EXPLAIN {sql}")).scalars()
    return "\n".join(rows)


@pytest.mark.parametrize("layer_id", ["units", "outlets"])
def test_public_reads_never_touch_monitoring_events(session, world, layer_id) -> None:
    layer = LAYERS[layer_id]
    public = select_list(layer.tile_fields_for(Audience.PUBLIC))
    staff = select_list(layer.tile_fields_for(Audience.STAFF))
    assert "monitoring_events" not in plan(session, f"SELECT {public}, geom FROM {layer.source}")
    assert "monitoring_events" in plan(session, f"SELECT {staff}, geom FROM {layer.source}")
    if layer.cluster_source:
        cluster = f"SELECT permit_state, geom FROM {layer.cluster_source}"
        assert "monitoring_events" not in plan(session, cluster)

"""Monitoring on the map and the pages: an outlet's series (hourly from minute data, daily from
hours, the device's own averages first, window bounds, limits), the county summary, the public
daily averages of key units only; then, in chromium, the side panel's charts (uPlot from our
own origin), the county summary and a key unit's public page.

One small hand-made world (tests/layer_fixtures.py) with readings written by `store_readings`
around a fixed clock, 2026-11-24 10:30 in Beijing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlparse

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.clock import CHINA, FixedClock
from geo.db import make_engine
from geo.monitoring.devices import register_device
from geo.monitoring.readings import ReadingRow, known_months, store_readings
from geo.monitoring.series import (
    MAX_SERIES,
    PUBLIC_DAILY_COLUMNS,
    PUBLIC_OUTLET_COLUMNS,
    PUBLIC_POLLUTANT_COLUMNS,
)
from geo.settings import DatabaseSettings, Settings
from geo.users import create_user
from layers.disclosure import OUTLET_FIELDS
from tests.browser import RecordedPage, chromium, live_server
from tests.conftest import use_session
from tests.dbtools import create_database, drop_database
from tests.factories import COUNTY, credit_code
from tests.layer_fixtures import World, build_world
from web.assets import UPLOT_JS

NOW = datetime(2026, 11, 24, 10, 30, tzinfo=CHINA)
STAFF = {"Authorization": "Bearer dev-staff-token"}
COD = "w01018"
FLOW = "w00000"  # monitored, not permitted: staff see it, the public never
RAW_ONLY = 9876.5  # a real-time value superseded by its hour's average: never in any point
MN = "STAFFONLY0001"
OTHER_COUNTY = "500118"
LIVE_ORDER = ("exceedance", "abnormal", "offline", "normal", "not_monitored")
BROWSER_USER = ("wang.fang", "a long enough password")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TIMEOUT = 20_000


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHINA)


def cod(cn: int, when: datetime, value: float, flag: str | None = "N") -> tuple:
    return (COD, cn, when, value, flag)


# (pollutant, cn, data time, value, flag) of the monitored outlet
READINGS = [
    # today, hour 09: minute data 10, 20, 30 → 20 (real-time 100 is not used: minute data exist)
    *(cod(2051, at(24, 9, m), v) for m, v in ((0, 10), (10, 20), (20, 30))),
    cod(2011, at(24, 9, 5), 100),
    # hour 08: the device's hourly average 40 wins over minute data and real-time values
    cod(2061, at(24, 8), 40),
    *(cod(2051, at(24, 8, m), 1) for m in (0, 10)),
    cod(2011, at(24, 8, 30), RAW_ONLY),
    # hour 07: real-time values only → their mean
    cod(2011, at(24, 7, 1), 5),
    cod(2011, at(24, 7, 2), 7),
    # hour 06: a value flagged D (fault) is left out
    cod(2051, at(24, 6), 12),
    cod(2051, at(24, 6, 10), 1000, "D"),
    # hour 10 (the current one): 8 now, and a value dated after the clock is not shown
    cod(2051, at(24, 10), 8),
    cod(2051, at(24, 10, 40), 999),
    # the 24 h window starts at 11:00 yesterday: 10:59 is out (in 7d), 11:00 is in
    cod(2051, at(23, 10, 59), 77),
    cod(2051, at(23, 11), 66),
    # days: the device's daily average wins; else the mean of the day's hours
    cod(2031, at(22, 0), 25),
    cod(2061, at(22, 3), 100),
    cod(2061, at(21, 1), 10),
    cod(2061, at(21, 2), 30),
    cod(2061, at(20, 23), 50),  # 23:00 in Beijing is 15:00 UTC: still the 20th
    # the 30 d window starts on 26 October; the public's 30 complete days on the 25th
    cod(2061, at(25, 23, month=10), 60),
    cod(2061, at(26, 0, month=10), 70),
    (FLOW, 2061, at(24, 9), 3.5, "N"),
]
HOURLY_24H = {  # hour (Beijing) → (value, cn)
    at(23, 11): (66, 2051),
    at(24, 6): (12, 2051),
    at(24, 7): (6, 2011),
    at(24, 8): (40, 2061),
    at(24, 9): (20, 2051),
    at(24, 10): (8, 2051),
}
DAILY_30D = {  # day → (value, cn)
    at(26, 0, month=10): (70, 2061),
    at(20, 0): (50, 2061),
    at(21, 0): (20, 2061),
    at(22, 0): (25, 2031),
    at(23, 0): ((77 + 66) / 2, 2061),
    at(24, 0): ((12 + 6 + 40 + 20 + 8) / 5, 2061),
}
PUBLIC_DAYS = {  # the 30 complete days before today: 25 October – 23 November
    "2026-10-25": 60,
    "2026-10-26": 70,
    "2026-11-20": 50,
    "2026-11-21": 20,
    "2026-11-22": 25,
    "2026-11-23": 71.5,
}


@dataclass
class MonitoringWorld:
    world: World
    monitored: int  # outlet with a device and readings (unit "valid", key)
    key_code: str  # its unit's credit code
    simplified_code: str  # a unit of simplified management, with readings too


def build_monitoring_world(session: Session) -> MonitoringWorld:
    """The layer world, plus: a device and readings on the "valid" unit's outlet (special limit
    30), outlets in every live status, a simplified unit with data, a second county."""
    world = build_world(session)
    monitored = world.outlets["valid"]
    register_device(session, mn=MN, outlet_id=monitored, password="secret")
    session.execute(
        text("UPDATE outlet_pollutants SET special_limit = 30 WHERE outlet_id = :o"),
        {"o": monitored},
    )
    statuses = {}
    for key in ("expiring", "revoked", "warning", "closed"):  # more outlets, monitored
        outlet = _outlet(session, world.units[key])
        register_device(session, mn=f"MN{key.upper()}", outlet_id=outlet, password="secret")
        statuses[key] = outlet
    _event(session, statuses["expiring"], "exceedance")
    _event(session, statuses["revoked"], "abnormal")
    _event(session, statuses["warning"], "offline")
    _event(session, statuses["warning"], "exceedance")  # offline first
    _event(session, statuses["closed"], "exceedance", ended=True)  # over: normal
    session.execute(
        text("""
        INSERT INTO admin_regions (code, name, level, parent_code, geom)
        SELECT :code, '永川区', 'county', '500000', geom FROM admin_regions WHERE code = :county
    """),
        {"code": OTHER_COUNTY, "county": COUNTY},
    )
    session.execute(
        text("UPDATE units SET county_code = :code WHERE id = :u"),
        {"code": OTHER_COUNTY, "u": world.units["none"]},
    )
    _outlet(session, world.units["none"])
    simplified = world.units["expired_status"]
    session.execute(
        text("UPDATE units SET category = 'simplified' WHERE id = :u"), {"u": simplified}
    )
    simplified_outlet = _outlet(session, simplified)
    rows = [
        ReadingRow(monitored, code, cn, when.astimezone(CHINA), value, flag=flag)
        for code, cn, when, value, flag in READINGS
    ]
    rows.append(ReadingRow(simplified_outlet, COD, 2061, at(23, 9), 33.0, flag="N"))
    store_readings(session, rows, known_months(session))
    codes = dict(
        session.execute(
            text("SELECT id, credit_code FROM units WHERE id = ANY(:ids)"),
            {"ids": [world.units["valid"], simplified]},
        ).all()
    )
    return MonitoringWorld(world, monitored, codes[world.units["valid"]], codes[simplified])


def _outlet(session: Session, unit_id: int) -> int:
    outlet = session.execute(
        text("""
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        SELECT id, 'DW002', 'water', 'main', ST_Translate(geom, 0.001, 0.001), '长江'
        FROM units WHERE id = :unit RETURNING id
    """),
        {"unit": unit_id},
    ).scalar_one()
    session.execute(
        text("""
        INSERT INTO outlet_pollutants (outlet_id, pollutant_code, pollutant_name,
                                       concentration_limit, concentration_unit)
        VALUES (:o, 'w01018', '化学需氧量', 50, 'mg/L')
    """),
        {"o": outlet},
    )
    return outlet


def _event(session: Session, outlet_id: int, kind: str, *, ended: bool = False) -> None:
    session.execute(
        text("""
        INSERT INTO monitoring_events (outlet_id, pollutant_code, kind, rule, started_at,
                                       ended_at)
        VALUES (:o, 'w01018', :kind, :kind, now() - interval '2 hours',
                CASE WHEN :ended THEN now() END)
    """),
        {"o": outlet_id, "kind": kind, "ended": ended},
    )


# ---- API ----------------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, session: Session) -> Iterator[TestClient]:
    """The app at the fixed clock; requests share the test's rolled-back session."""
    settings = Settings(database=DatabaseSettings(database_url=db_url, db_warm_pool=False))
    app = create_app(settings, clock=FixedClock(NOW))
    use_session(app, session)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def mworld(session: Session) -> MonitoringWorld:
    return build_monitoring_world(session)


def series_of(client: TestClient, outlet_id: int, **params: str) -> dict:
    response = client.get(f"/api/outlets/{outlet_id}/readings", params=params, headers=STAFF)
    assert response.status_code == 200, response.text
    return response.json()


def points(series: dict) -> dict[datetime, tuple[float, int]]:
    return {
        datetime.fromisoformat(p["t"]): (pytest.approx(p["value"]), p["cn"])
        for p in series["points"]
    }


def test_hourly_points_prefer_device_averages_and_respect_the_window(client, mworld) -> None:
    body = series_of(client, mworld.monitored, pollutant=COD, window="24h")
    assert body["step"] == "hour" and body["live_status"] == "normal" and body["monitored"]
    assert datetime.fromisoformat(body["start"]) == at(23, 11)
    assert datetime.fromisoformat(body["end"]) == at(24, 11)
    (series,) = body["series"]
    assert points(series) == HOURLY_24H
    assert all(
        datetime.fromisoformat(p["t"]).utcoffset() == timedelta(hours=8) for p in series["points"]
    )
    assert RAW_ONLY not in [p["value"] for p in series["points"]]


def test_limits_and_units_come_with_the_series(client, mworld) -> None:
    (series,) = series_of(client, mworld.monitored, pollutant=COD)["series"]
    assert series["pollutant_name"] == "化学需氧量" and series["unit"] == "mg/L"
    assert series["concentration_limit"] == 50 and series["special_limit"] == 30


def test_seven_days_is_hourly_and_reaches_back_a_week(client, mworld) -> None:
    body = series_of(client, mworld.monitored, pollutant=COD, window="7d")
    assert datetime.fromisoformat(body["start"]) == at(17, 11)
    found = points(body["series"][0])
    assert found[at(23, 10)] == (77, 2051)
    assert found[at(22, 3)] == (100, 2061) and at(22, 0) not in found  # daily data: not hourly
    assert len(found) <= 168


def test_thirty_days_is_daily(client, mworld) -> None:
    body = series_of(client, mworld.monitored, pollutant=COD, window="30d")
    assert body["step"] == "day"
    assert datetime.fromisoformat(body["start"]) == at(26, 0, month=10)
    assert points(body["series"][0]) == DAILY_30D


def test_without_a_pollutant_every_permitted_or_monitored_one(client, mworld) -> None:
    body = series_of(client, mworld.monitored, window="24h")
    assert [s["pollutant_code"] for s in body["series"]] == [COD, FLOW]
    flow = body["series"][1]
    assert flow["concentration_limit"] is None and flow["pollutant_name"] is None
    assert points(flow) == {at(24, 9): (3.5, 2061)}


def test_series_are_bounded(client, session, mworld) -> None:
    rows = [
        ReadingRow(mworld.monitored, f"w{90000 + i}", 2061, at(24, 9), float(i), flag="N")
        for i in range(MAX_SERIES + 5)
    ]
    store_readings(session, rows, known_months(session))
    assert len(series_of(client, mworld.monitored)["series"]) == MAX_SERIES


def test_bad_parameters_are_client_errors(client, mworld) -> None:
    base = f"/api/outlets/{mworld.monitored}/readings"
    for params in ({"window": "1y"}, {"pollutant": "COD'; --"}):
        assert client.get(base, params=params, headers=STAFF).status_code in (400, 422)
    assert client.get("/api/outlets/999999/readings", headers=STAFF).status_code == 404
    summary = client.get("/api/monitoring/summary", params={"county": "x"}, headers=STAFF)
    assert summary.status_code in (400, 422)


def test_county_summary_counts_outlets_by_live_status(client, mworld) -> None:
    body = client.get("/api/monitoring/summary", headers=STAFF).json()
    by_county = {c["county_code"]: c for c in body["counties"]}
    assert by_county[COUNTY] == {
        "county_code": COUNTY,
        "county_name": "江津区",
        "outlets": 7,  # the world's 2, 4 more with a device, the simplified unit's
        "monitored": 5,
        "online": 4,
        "exceeding": 1,
        "abnormal": 1,
        "offline": 1,
        "not_monitored": 2,
    }
    assert by_county[OTHER_COUNTY]["not_monitored"] == 1
    assert body["total"]["outlets"] == 8 and body["total"]["not_monitored"] == 3
    only = client.get("/api/monitoring/summary", params={"county": OTHER_COUNTY}, headers=STAFF)
    assert [c["county_code"] for c in only.json()["counties"]] == [OTHER_COUNTY]


def test_anonymous_callers_cannot_read_the_staff_endpoints(client, mworld) -> None:
    assert client.get(f"/api/outlets/{mworld.monitored}/readings").status_code == 401
    assert client.get("/api/monitoring/summary").status_code == 401


def tile_of(lon: float, lat: float, z: int) -> tuple[float, float]:
    n = 2**z
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (lon + 180) / 360 * n, y


def test_outlets_are_coloured_by_live_status_for_staff_only(client, mworld) -> None:
    x, y = (int(c) for c in tile_of(106.011, 29.010, 16))  # the monitored outlet
    tile = f"/tiles/outlets/16/{x}/{y}.mvt"
    staff = mapbox_vector_tile.decode(client.get(tile, headers=STAFF).content)
    assert {f["properties"]["live_status"] for f in staff["outlets"]["features"]} == {"normal"}
    public = mapbox_vector_tile.decode(client.get(tile).content)
    assert public["outlets"]["features"]
    assert all("live_status" not in f["properties"] for f in public["outlets"]["features"])
    legends = {
        audience: next(layer for layer in body if layer["id"] == "outlets")
        for audience, body in (
            ("staff", client.get("/api/layers", headers=STAFF).json()),
            ("public", client.get("/api/layers").json()),
        )
    }
    assert legends["staff"]["style"]["by"] == "live_status"
    assert [e["value"] for e in legends["staff"]["legend"]] == [*LIVE_ORDER]
    assert legends["public"]["style"]["by"] == "medium"


def test_public_daily_averages_of_a_key_unit(client, mworld) -> None:
    response = client.get(f"/api/public/units/{mworld.key_code}/monitoring")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"credit_code", "site", "start", "end", "outlets"}
    assert (body["start"], body["end"]) == ("2026-10-25", "2026-11-23")
    (outlet,) = body["outlets"]
    assert set(outlet) == {*PUBLIC_OUTLET_COLUMNS, "pollutants"}
    assert (outlet["code"], outlet["medium"]) == ("DW001", "water")
    (pollutant,) = outlet["pollutants"]  # flow has no permitted limit: not disclosed
    assert set(pollutant) == {*PUBLIC_POLLUTANT_COLUMNS, "daily"}
    assert pollutant["concentration_limit"] == 50
    assert {tuple(d) for d in pollutant["daily"]} == {PUBLIC_DAILY_COLUMNS}
    days = {d["date"]: d["value"] for d in pollutant["daily"]}
    assert days == pytest.approx(PUBLIC_DAYS)
    for secret in (MN, "special_limit", "live_status", '"cn"', "flag", str(RAW_ONLY), "30.0"):
        assert secret not in response.text


def test_public_daily_averages_only_for_key_units(client, mworld) -> None:
    simplified = client.get(f"/api/public/units/{mworld.simplified_code}/monitoring")
    assert simplified.status_code == 404
    assert '"value"' not in simplified.text
    assert client.get(f"/api/public/units/{credit_code(1)}/monitoring").status_code == 404
    assert client.get("/api/public/units/not-a-code/monitoring").status_code == 404
    assert client.get(f"/api/public/units/{mworld.key_code}/monitoring?site=2").status_code == 404


def test_public_outlet_columns_are_the_disclosed_ones() -> None:
    assert PUBLIC_OUTLET_COLUMNS == OUTLET_FIELDS


# ---- in chromium ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    base_url: str
    mworld: MonitoringWorld


@pytest.fixture(scope="module")
def live(server_url: str, template_db: str) -> Iterator[Live]:
    """The monitoring world committed in a database of its own, served at the fixed clock."""
    name = f"permitmap_test_{os.getpid()}_monitoring_browser"
    url = create_database(server_url, name, template=template_db)
    engine = make_engine(url)
    with Session(engine) as session:
        mworld = build_monitoring_world(session)
        create_user(
            session, username=BROWSER_USER[0], display_name="李明", role="inspector",
            password=BROWSER_USER[1],
        )  # fmt: skip
        session.commit()
    engine.dispose()
    settings = Settings(database=DatabaseSettings(database_url=url, db_warm_pool=False))
    with live_server(create_app(settings, clock=FixedClock(NOW))) as base_url:
        yield Live(base_url, mworld)
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def recorded(browser, live, request) -> Iterator[RecordedPage]:
    page = RecordedPage(browser, live.base_url, viewport={"width": 1400, "height": 900})
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    page.close()


def sign_in(recorded: RecordedPage, next_path: str) -> None:
    page = recorded.page
    page.goto(f"{recorded.base_url}/login?next={quote(next_path)}")
    page.fill("#username", BROWSER_USER[0])
    page.fill("#password", BROWSER_USER[1])
    page.click("#sign-in")
    page.wait_for_url(f"**{next_path.split('?')[0]}*", timeout=TIMEOUT)
    try:
        page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    except PlaywrightTimeoutError as exc:  # say where the browser was (a rare CI timeout)
        body = page.evaluate("document.body ? document.body.innerText.slice(0, 300) : ''")
        raise AssertionError(f"map not ready at {page.url}: {body!r}") from exc


def assert_offline(recorded: RecordedPage) -> None:
    """Nothing asked of another host, no console error, the chart library from our origin."""
    assert recorded.blocked == []
    assert recorded.console_errors == []
    hosts = {urlparse(r.url).netloc for r in recorded.responses if r.url.startswith("http")}
    assert hosts == {recorded.local_host}
    uplot = [r for r in recorded.responses if r.url.endswith(UPLOT_JS)]
    assert uplot and uplot[0].status == 200


@pytest.mark.slow
def test_side_panel_charts_each_pollutant_against_its_limits(recorded, live) -> None:
    unit_id = live.mworld.world.units["valid"]
    sign_in(recorded, f"/map?unit={unit_id}")
    page = recorded.page
    block = f".pm-monitor[data-outlet='{live.mworld.monitored}']"
    page.wait_for_selector(f"{block}[data-state=ready][data-window='24h']", timeout=TIMEOUT)
    chart = f"{block} .pm-chart[data-pollutant={COD}]"
    assert page.locator(f"{chart} canvas").count() >= 1
    legend = page.inner_text(f"{chart} .u-legend")
    assert "化学需氧量" in legend and "许可限值" in legend and "特别排放限值" in legend
    assert page.locator(f"{block} .pm-chart[data-pollutant={FLOW}] canvas").count() >= 1
    events = page.wait_for_selector(f"{block} .pm-events[data-state=ready]", state="attached")
    assert not events.is_visible()  # no open event: no list (the badge says it is in order)
    assert "正常" in page.inner_text(f"{block} .pm-live") or "normal" in page.inner_text(
        f"{block} .pm-live"
    )
    for window in ("7d", "30d"):
        with page.expect_response(lambda r, w=window: f"window={w}" in r.url):
            page.click(f"{block} button[data-window='{window}']")
        page.wait_for_selector(f"{block}[data-state=ready][data-window='{window}']")
        assert page.locator(f"{chart} canvas").count() >= 1
    assert_offline(recorded)


@pytest.mark.slow
def test_county_summary_on_the_staff_map(recorded, live) -> None:
    sign_in(recorded, "/map?lang=en")
    page = recorded.page
    page.wait_for_selector("#pm-summary-table", timeout=TIMEOUT)
    row = page.locator(f"#pm-summary-table tr[data-county='{COUNTY}'] td")
    assert row.all_inner_texts() == ["4/5", "1", "1", "1"]
    assert "Exceeding" in page.inner_text("#pm-summary-table thead")
    page.click(f"#pm-summary-table tr[data-county='{COUNTY}']")
    page.wait_for_function(f"document.body.dataset.filters.includes('{COUNTY}')")
    assert page.input_value("#pm-filter-county") == COUNTY
    # outlets by live status: the filter shows the (hidden) outlets layer, filtered
    page.select_option("#pm-filter-live", "exceedance")
    with page.expect_response(lambda r: "/tiles/outlets/" in r.url and "live_status" in r.url):
        page.click("#pm-filters button[type=submit]")
    assert page.evaluate("permitmap.map.hasLayer(permitmap.grids.outlets)")
    page.wait_for_load_state("networkidle", timeout=TIMEOUT)
    outlet_tiles = [r for r in recorded.responses if "/tiles/outlets/" in r.url]
    assert outlet_tiles and all(r.status == 200 for r in outlet_tiles)
    assert_offline(recorded)


@pytest.mark.slow
def test_public_page_of_a_key_unit_shows_daily_averages_only(recorded, live) -> None:
    page = recorded.page
    page.goto(f"{live.base_url}/public/units/{live.mworld.key_code}")
    page.wait_for_selector("body[data-charts=ready]", timeout=TIMEOUT)
    section = page.inner_text("#pm-monitoring")
    assert "在线监测日均值" in section and "71.5" in section and "许可限值 50" in section
    rows = page.locator("#daily-DW001 tbody tr")
    assert rows.count() == len(PUBLIC_DAYS)
    assert rows.first.locator("td").first.inner_text() == "2026-11-23"
    assert page.locator("#daily-DW001 td.pm-over").count() == 3  # 60, 70, 71.5 above 50
    assert page.locator(".pm-chart-slot canvas").count() >= 1
    html, shown = page.content(), page.inner_text("main")
    for secret in (MN, str(RAW_ONLY), "live_status"):
        assert secret not in html
    data = page.text_content("#pm-monitoring-data")
    assert "special_limit" not in data and '"cn"' not in data and "flag" not in data
    assert "特别排放限值" not in shown and "小时" not in shown
    staff_calls = [r.url for r in recorded.responses if "/api/" in r.url]
    assert staff_calls == []  # the page carries its data: no API call at all
    assert_offline(recorded)
    page.screenshot(path=str(ARTIFACTS / "public_key_unit_daily_averages.png"), full_page=True)
    simplified = page.goto(f"{live.base_url}/public/units/{live.mworld.simplified_code}")
    assert simplified.status == 200 and page.locator("#pm-monitoring").count() == 0


@pytest.mark.slow
def test_an_open_event_opens_its_problem_from_the_side_panel(recorded, live) -> None:
    unit_id = live.mworld.world.units["expiring"]  # its outlet has an open COD exceedance
    sign_in(recorded, f"/map?unit={unit_id}")
    page = recorded.page
    event = ".pm-events li.pm-event-exceedance"
    page.wait_for_selector(f"{event} form", timeout=TIMEOUT)
    summary = page.inner_text(event)
    assert "超标" in summary and "化学需氧量" in summary and "始于 2026-11-" in summary
    event_id = int(page.get_attribute(event, "data-event"))
    answered = f"/api/monitoring/events/{event_id}/problem"
    page.fill(f"{event} input[name=department]", "   ")  # blank once trimmed: refused, shown
    with page.expect_response(lambda r: r.url.endswith(answered)) as refused:
        page.click(f"{event} button[type=submit]")
    assert refused.value.status == 422
    page.wait_for_selector(f"{event} .pm-error:has-text('department')")
    assert page.get_attribute(event, "data-problem") is None
    page.fill(f"{event} input[name=department]", "江津区生态环境局执法支队")
    with page.expect_response(lambda r: r.url.endswith(answered)) as opened:
        page.click(f"{event} button[type=submit]")
    assert opened.value.status == 201
    page.wait_for_selector(f"{event}[data-problem] .pm-event-problem")
    problem_id = int(page.get_attribute(event, "data-problem"))
    assert page.inner_text(f"{event} .pm-event-problem") == f"已立问题 #{problem_id}"
    fetch = "url => fetch(url).then(r => r.json())"
    assert page.evaluate(fetch, f"/api/monitoring/events/{event_id}")["problem_id"] == problem_id
    problem = page.evaluate(fetch, f"/api/problems/{problem_id}")
    assert (problem["unit_id"], problem["department"]) == (unit_id, "江津区生态环境局执法支队")
    assert problem["problem_type"] == "monitoring_exceedance"
    page.reload()  # the panel again: the event now names its problem instead of the form
    page.wait_for_selector(f"{event}[data-problem='{problem_id}'] .pm-event-problem")
    assert page.locator(f"{event} form").count() == 0
    recorded.expect_refusals(422)  # the blank department's
    assert_offline(recorded)

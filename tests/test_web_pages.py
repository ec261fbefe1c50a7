"""The three map pages in a real headless chromium, on a small demo province served live.

Every page: no console errors, nothing requested from anywhere but the server. Staff map: layers
toggle, search + click open a known unit's panel with its permit number, filters reach the
tiles and the export. Siting: a point in a grade I zone is prohibited, one outside every zone
allowed, and the report prints. Public map: no staff field in the DOM or in any response.
Screenshots go to test-artifacts/ (kept by CI as artifacts).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, date, datetime
from pathlib import Path

import mapbox_vector_tile
import pyogrio
import pytest
import segno
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from geo.db import make_engine
from geo.problems import open_problem, transition
from geo.screening import screen
from geo.settings import DatabaseSettings, Settings
from geo.users import create_user
from layers.declarations import Audience
from layers.registry import LAYERS
from layers.tiles import refresh_clusters
from tests.browser import RecordedPage, chromium, live_server
from tests.conftest import TEST_AS_OF

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
STAFF = ("li.ming", "a long enough password")
U01 = "91500230MAA943MN1U"  # planted: inside grade I zone SY500230028-I (data/demo/README.md)
GRADE_I_POINT = (107.76429, 29.92095)  # U01's location
TIMEOUT = 20_000


@pytest.fixture(scope="module")
def demo_db(db_url: str) -> str:
    """The module's database with a 2,000-unit demo, screened, clusters built, one user."""
    engine = make_engine(db_url)
    write_demo(engine, build_demo(DemoOptions(units=2_000, as_of=TEST_AS_OF)))
    with Session(engine) as session:
        screen(session, now=datetime(2026, 11, 24, 9, tzinfo=UTC))
        refresh_clusters(session, 16)
        create_user(
            session, username=STAFF[0], display_name="李明", role="supervisor", password=STAFF[1]
        )
        session.commit()
    engine.dispose()
    return db_url


@pytest.fixture(scope="module")
def base_url(demo_db: str):
    app = create_app(Settings(database=DatabaseSettings(database_url=demo_db)))
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def u01(demo_db: str) -> dict:
    engine = make_engine(demo_db)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT u.id, u.name, s.permit_no FROM units u JOIN unit_status s"
                " ON s.unit_id = u.id WHERE u.credit_code = :code"
            ),
            {"code": U01},
        ).one()
    engine.dispose()
    return {"id": row.id, "name": row.name, "permit_no": row.permit_no}


@pytest.fixture
def recorded(browser, base_url, request):
    page = RecordedPage(browser, base_url, viewport={"width": 1400, "height": 900})
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    page.close()


def sign_in(recorded: RecordedPage, next_path: str) -> None:
    page = recorded.page
    page.goto(f"{recorded.base_url}/login?next={next_path}")
    page.fill("#username", STAFF[0])
    page.fill("#password", STAFF[1])
    page.click("#sign-in")
    page.wait_for_url(f"**{next_path}*")


def wait_ready(recorded: RecordedPage) -> None:
    recorded.page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    recorded.page.wait_for_load_state("networkidle", timeout=TIMEOUT)


def assert_clean(recorded: RecordedPage) -> None:
    assert recorded.blocked == []
    assert recorded.console_errors == []
    hosts = {r.url.split("/")[2] for r in recorded.responses if r.url.startswith("http")}
    assert hosts <= {recorded.local_host}


def province_bounds(recorded: RecordedPage) -> tuple[float, float, float, float]:
    bounds = recorded.page.evaluate("permitmap.grids.units.options.bounds.toBBoxString()")
    return tuple(float(v) for v in bounds.split(","))


def tile_west(x: int, z: int) -> float:
    return x / 2**z * 360 - 180


def tile_north(y: int, z: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 2**z))))


def tile_responses(recorded: RecordedPage, layer: str) -> list:
    return [r for r in recorded.responses if f"/tiles/{layer}/" in r.url]


def center_on(recorded: RecordedPage, lon: float, lat: float, zoom: int) -> None:
    recorded.page.evaluate(f"permitmap.map.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    recorded.page.wait_for_load_state("networkidle", timeout=TIMEOUT)
    recorded.page.wait_for_timeout(300)  # the canvas tiles paint after their data arrive


def click_map_center(recorded: RecordedPage) -> None:
    box = recorded.page.locator(".folium-map").bounding_box()
    recorded.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


# ---- staff map ----------------------------------------------------------------------------


def test_staff_map_loads_offline(recorded) -> None:
    sign_in(recorded, "/map")
    wait_ready(recorded)
    assert recorded.page.title().startswith("监管地图")
    units = tile_responses(recorded, "units")
    assert units and all(r.status == 200 for r in units)
    assert tile_responses(recorded, "admin_regions")  # permitmap's own base map
    west, south, east, north = province_bounds(recorded)
    for response in recorded.responses:  # no layer asks for tiles outside the province
        if "/tiles/" in response.url and ".mvt" in response.url:
            z, x, y = (int(v) for v in response.url.split("?")[0][:-4].split("/")[-3:])
            assert tile_west(x, z) <= east + 0.1 and tile_west(x + 1, z) >= west - 0.1
            assert tile_north(y + 1, z) <= north + 0.1 and tile_north(y, z) >= south - 0.1
    legend = recorded.page.locator(".pm-legend-layer[data-layer=units] li")
    assert legend.count() == len(LAYERS["units"].style.classes)
    assert_clean(recorded)


def test_layers_toggle(recorded) -> None:
    sign_in(recorded, "/map")
    wait_ready(recorded)
    page = recorded.page
    assert not tile_responses(recorded, "zones_control_unit")
    with page.expect_response(lambda r: "/tiles/zones_control_unit/" in r.url, timeout=TIMEOUT):
        page.get_by_label(LAYERS["zones_control_unit"].title_zh).check()
    assert page.evaluate("permitmap.map.hasLayer(permitmap.grids.zones_control_unit)")
    assert page.evaluate("permitmap.map.hasLayer(permitmap.grids.units)")
    page.get_by_label(LAYERS["units"].title_zh).uncheck()
    assert not page.evaluate("permitmap.map.hasLayer(permitmap.grids.units)")
    assert_clean(recorded)


def test_search_and_click_open_the_units_panel(recorded, u01) -> None:
    sign_in(recorded, "/map")
    wait_ready(recorded)
    page = recorded.page
    page.fill("#pm-search-q", U01)
    page.press("#pm-search-q", "Enter")
    page.wait_for_selector("#pm-panel-title", timeout=TIMEOUT)
    page.click("#pm-panel-close")
    assert page.evaluate("permitmap.map.getZoom()") == 17
    recorded.page.wait_for_load_state("networkidle", timeout=TIMEOUT)
    page.wait_for_timeout(300)
    click_map_center(recorded)  # the map is centred on the unit: click its dot
    page.wait_for_selector(f"#pm-panel-body:has-text('{u01['permit_no']}')", timeout=TIMEOUT)
    assert page.inner_text("#pm-panel-title") == u01["name"]
    ledger_link = page.get_attribute("#pm-unit-ledger", "href")
    assert ledger_link == f"/ledger?unit_id={u01['id']}"
    facts = page.inner_text("#pm-panel-body .pm-facts")  # coded values under their names
    assert "违法设置（禁止类问题）" in facts and "violation" not in facts
    assert re.search("重点管理|简化管理|登记管理", facts)
    assert_clean(recorded)


def test_filters_reach_tiles_and_export(recorded, tmp_path) -> None:
    sign_in(recorded, "/map")
    wait_ready(recorded)
    page = recorded.page
    page.select_option("#pm-filter-status", "violation")
    page.select_option("#pm-filter-category", "key")
    with page.expect_response(lambda r: "/tiles/units/" in r.url and "filter=" in r.url):
        page.click("#pm-filters button[type=submit]")
    page.wait_for_load_state("networkidle", timeout=TIMEOUT)
    filtered = [r for r in tile_responses(recorded, "units") if "filter=" in r.url]
    assert filtered and all(r.status == 200 for r in filtered)
    href = page.get_attribute("#pm-export-csv", "href")
    assert "filter=" in href and "violation" in href
    export = page.request.get(recorded.base_url + href)
    assert export.status == 200
    lines = export.text().lstrip("\ufeff").splitlines()
    assert lines[0].startswith("编号")
    gpkg = page.get_attribute("#pm-export-gpkg", "href")
    assert gpkg.replace("format=gpkg", "format=csv") == href  # the same filter
    package = tmp_path / "units.gpkg"
    package.write_bytes(page.request.get(recorded.base_url + gpkg).body())
    frame = pyogrio.read_dataframe(package)
    assert len(frame) == len(lines) - 1 and set(frame["enforcement_status"]) == {"violation"}
    assert_clean(recorded)


@pytest.mark.parametrize("path", ["/map", "/siting", "/imports"], ids=lambda path: path.strip("/"))
def test_anonymous_staff_pages_go_to_sign_in(recorded, path: str) -> None:
    recorded.page.goto(f"{recorded.base_url}{path}")
    assert f"/login?next={path.replace('/', '%2F')}" in recorded.page.url
    assert recorded.page.locator("#password").count() == 1


def test_english_switch(recorded) -> None:
    sign_in(recorded, "/map")
    recorded.page.click("a.pm-lang")
    wait_ready(recorded)
    assert recorded.page.title().startswith("Staff map")
    assert "Pollutant discharge units" in recorded.page.inner_text(".leaflet-control-layers")
    assert_clean(recorded)


# ---- siting -------------------------------------------------------------------------------


def check_point(recorded: RecordedPage, lon: float, lat: float, industry: str) -> str:
    page = recorded.page
    center_on(recorded, lon, lat, 15)
    page.click(".leaflet-draw-draw-marker")
    click_map_center(recorded)
    page.wait_for_selector("body[data-site=drawn]")
    page.fill("#pm-siting-industry", industry)
    page.check("input[name=media][value=water]")
    page.click("#pm-siting-check")
    page.wait_for_selector("#pm-verdict", timeout=TIMEOUT)
    return page.get_attribute(".pm-siting-result", "data-verdict")


def test_siting_grade_one_zone_is_prohibited(recorded) -> None:
    sign_in(recorded, "/siting")
    wait_ready(recorded)
    assert check_point(recorded, *GRADE_I_POINT, "2221") == "prohibited"
    assert "禁止" in recorded.page.inner_text("#pm-verdict")
    result = recorded.page.inner_text("#pm-panel-body")
    assert "SY500230028-I" in result
    assert "饮用水水源保护区 (一级保护区)" in result  # kinds, grades and severities by name
    for code in ("water_protection", "prohibited", "control_unit"):
        assert code not in result
    assert_clean(recorded)


def test_siting_outside_every_zone_is_allowed_and_prints(recorded, demo_db) -> None:
    # Control units cover the whole province: "outside every zone" means in a general control
    # unit (一般管控单元) only, at least 1 km from every other zone.
    sign_in(recorded, "/siting")
    wait_ready(recorded)
    lon, lat = far_from_every_zone(demo_db)
    assert check_point(recorded, lon, lat, "2221") == "allowed"
    report = recorded.page.get_attribute("#pm-report-link", "href")
    recorded.page.goto(recorded.base_url + report)
    wait_ready(recorded)
    assert recorded.page.get_attribute(".pm-siting-result", "data-verdict") == "allowed"
    recorded.page.emulate_media(media="print")
    assert not recorded.page.is_visible(".pm-bar")
    assert_clean(recorded)


def far_from_every_zone(db_url: str) -> tuple[float, float]:
    """A point of the province at least 1 km from every zone but general control units."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        point = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 400, 7)))"
                ".geom AS p FROM admin_regions WHERE level = 'province') pts"
                " WHERE NOT EXISTS (SELECT FROM zones z WHERE ST_DWithin(z.geom::geography,"
                " pts.p::geography, 1000) AND (z.kind, coalesce(z.grade, ''))"
                " <> ('control_unit', 'general')) ORDER BY ST_X(p) LIMIT 1"
            )
        ).one()
    engine.dispose()
    return float(point[0]), float(point[1])


# ---- public map ---------------------------------------------------------------------------


def staff_only_names() -> set[str]:
    """Fields the public layers hold for staff only (staff layers are never requested)."""
    public_layers = [layer for layer in LAYERS.values() if layer.visible_to(Audience.PUBLIC)]
    names = {f.name for layer in public_layers for f in layer.fields if not f.public}
    return names - {f.name for layer in public_layers for f in layer.fields if f.public}


def assert_public_responses(recorded: RecordedPage) -> None:
    """No response carries a staff-only field or a staff layer's tiles."""
    forbidden = staff_only_names()
    staff_layers = {lid for lid, layer in LAYERS.items() if not layer.visible_to(Audience.PUBLIC)}
    for response in recorded.responses:
        if any(f"/tiles/{lid}" in response.url for lid in staff_layers):
            raise AssertionError(f"a staff layer was requested: {response.url}")
        kind = response.headers.get("content-type", "")
        if response.status != 200:
            continue
        if "vnd.mapbox-vector-tile" in kind:
            for layer in mapbox_vector_tile.decode(response.body()).values():
                for feature in layer["features"]:
                    assert not forbidden & set(feature["properties"]), response.url
        elif "json" in kind or "html" in kind:
            body = response.text()
            leaked = {name for name in forbidden if f'"{name}"' in body}
            assert not leaked, (response.url, leaked)


def test_public_map_shows_public_data_only(recorded, u01) -> None:
    page = recorded.page
    page.goto(f"{recorded.base_url}/public")
    wait_ready(recorded)
    center_on(recorded, *GRADE_I_POINT, 17)
    click_map_center(recorded)
    page.wait_for_selector(f"#pm-panel-body:has-text('{u01['permit_no']}')", timeout=TIMEOUT)
    dom = page.content()
    for name in staff_only_names():
        assert f'"{name}"' not in dom
    staff_style = LAYERS["units"].style  # enforcement status: staff only
    for entry in staff_style.classes:
        if entry.label_zh not in {c.label_zh for c in LAYERS["units"].public_style.classes}:
            assert entry.label_zh not in dom
    assert_public_responses(recorded)
    assert_clean(recorded)


def test_public_unit_page_has_a_stable_address(recorded, u01) -> None:
    page = recorded.page
    page.goto(f"{recorded.base_url}/public/units/{U01}")
    assert page.inner_text("#pm-unit-name") == u01["name"]
    assert u01["permit_no"] in page.inner_text("main")
    assert "DW" in page.inner_text("main") or "DA" in page.inner_text("main")
    assert_public_responses(recorded)
    assert_clean(recorded)
    missing = page.goto(f"{recorded.base_url}/public/units/000000000000000000")
    assert missing.status == 404
    said = page.inner_text("main")
    assert "000000000000000000" in said and "None" not in said


def test_public_page_json_blocks_parse(recorded) -> None:
    recorded.page.goto(f"{recorded.base_url}/public")
    wait_ready(recorded)
    layers = json.loads(recorded.page.text_content("#pm-layers"))
    assert {layer["id"] for layer in layers} == {
        lid for lid, layer in LAYERS.items() if layer.visible_to(Audience.PUBLIC)
    }


def test_public_draws_page_loads_offline(recorded) -> None:
    recorded.page.goto(f"{recorded.base_url}/public/draws")
    assert recorded.page.title().startswith("双随机")
    assert_public_responses(recorded)
    assert_clean(recorded)


def test_import_page_shows_every_problem_then_checks_then_writes(recorded, tmp_path) -> None:
    sign_in(recorded, "/imports")
    page = recorded.page
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    exported = page.request.get(f"{recorded.base_url}/api/layers/units/export?format=csv")
    assert exported.ok
    header, *stored = csv.reader(io.StringIO(exported.body().decode("utf-8-sig")))
    rows = [row for row in stored if U01 not in row][:3]
    name, code = header.index("单位名称"), header.index("统一社会信用代码")
    rows[0][name] = "导入页测试更名有限公司"
    bad_code = rows[1][code][:-1] + ("0" if rows[1][code][-1] != "0" else "1")
    bad = [*rows[:1], [bad_code if i == code else v for i, v in enumerate(rows[1])], rows[2]]
    files = {}
    for label, body in (("edit", rows), ("bad", bad)):
        files[label] = tmp_path / f"units-{label}.csv"
        with files[label].open("w", encoding="utf-8-sig", newline="") as out:
            csv.writer(out).writerows([header, *body])

    def send(path: Path, state: str) -> str:
        page.select_option("#pm-import-kind", "units")
        page.set_input_files("#pm-import-file", str(path))
        page.click("#pm-import-submit")
        page.wait_for_selector(f"#pm-import-result[data-state={state}]", timeout=TIMEOUT)
        return page.inner_text("#pm-import-summary")

    assert "发现" in send(files["bad"], "rejected")  # nothing written, every problem listed
    cells = page.locator("#pm-import-problems tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].slice(0, 3).map(c => c.innerText))"
    )
    assert ["3", "统一社会信用代码", bad_code] in cells
    checked = send(files["edit"], "checked")  # a dry run first (the box starts ticked)
    assert "将新增 0，更新 1，不变 2（共 3 行）" in checked
    page.uncheck("#pm-import-dry-run")
    assert "已导入：新增 0，更新 1，不变 2（共 3 行）" in send(files["edit"], "written")
    page.reload()
    latest = page.locator("#pm-import-runs tbody tr").first.inner_text()
    assert "units-edit.csv" in latest and STAFF[0] in latest
    runs = page.locator("#pm-import-runs tbody tr").count()
    assert runs == 1  # the refused file and the dry run left no record
    recorded.expect_refusals(422)  # the refused file's
    assert_clean(recorded)


def test_ledger_steps_and_evidence_in_the_browser(recorded, demo_db, u01, tmp_path) -> None:
    engine = make_engine(demo_db)
    with Session(engine) as session:  # two problems of U01, both verified by a reviewer
        ids = []
        for finding in ("厂界噪声超标", "雨污未分流"):
            problem_id = open_problem(
                session, source="inspection", problem_type="rectification_order",
                unit_id=u01["id"], finding=finding, department="丰都县生态环境局",
                deadline=date(2027, 3, 1), today=date(2026, 11, 24), opened_by="test",
            )  # fmt: skip
            version = 1
            for to in ("rectifying", "submitted", "verified"):
                if to == "submitted":
                    session.execute(
                        text("INSERT INTO problem_attachments (problem_id, stored_name,"
                             " original_name, media_type, size_bytes, sha256, uploaded_by,"
                             " uploaded_at) VALUES (:p, md5(random()::text), 'x.pdf',"
                             " 'application/pdf', 1, repeat('0', 64), 'test', now())"),
                        {"p": problem_id},
                    )  # fmt: skip
                version = transition(
                    session, problem_id=problem_id, to=to, version=version, note=None,
                    actor="test", role="admin", now=datetime(2026, 11, 24, 10, tzinfo=UTC),
                )  # fmt: skip
            ids.append(problem_id)
        session.commit()
    engine.dispose()
    sign_in(recorded, "/ledger")
    page = recorded.page
    assert page.locator(f"#pm-ledger tr[data-problem='{ids[0]}']").inner_text().count("已核查") == 1
    page.click(f"#pm-ledger tr[data-problem='{ids[0]}'] a[href='/ledger/{ids[0]}']")
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    back = "button.pm-step[data-to=rectifying]"
    page.click(back)  # a supervisor sends it back: a reason is required
    page.wait_for_selector("#pm-step-error:has-text('reason')", timeout=TIMEOUT)
    assert page.inner_text("#pm-problem-status").startswith("已核查")
    page.fill("#pm-step-note", "整改材料不全，补充监测报告")
    with page.expect_navigation():
        page.click(back)
    assert page.inner_text("#pm-problem-status").startswith("整改中")
    assert "整改材料不全，补充监测报告" in page.inner_text("#pm-history")
    assert page.locator("#pm-no-steps").count() == 1  # rectifying is the inspector's to move
    png = tmp_path / "监测报告.png"
    segno.make("permitmap").save(str(png), kind="png")
    page.set_input_files("#pm-evidence-form input[type=file]", str(png))
    with page.expect_navigation():
        page.click("#pm-evidence-form button[type=submit]")
    assert "监测报告.png" in page.inner_text("#pm-evidence")
    page.goto(f"{recorded.base_url}/ledger/{ids[1]}")
    with page.expect_navigation():
        page.click("button.pm-step[data-to=closed]")
    assert page.inner_text("#pm-problem-status").startswith("已销号")
    page.goto(f"{recorded.base_url}/ledger?status=closed")
    assert page.locator(f"#pm-ledger tr[data-problem='{ids[1]}']").count() == 1
    board = page.locator("#pm-board tbody tr[data-county] td").all_inner_texts()
    assert board == ["1", "0", "1", ""]  # U01's county only: one still open, one closed
    recorded.expect_refusals(422)  # the missing reason's
    assert_clean(recorded)

"""The pages over HTTP (no browser): sign-in and the session cookie, CSRF on cookie writes, the
Content Security Policy, nothing referenced off the server, the language switch."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.auth import SESSION_COOKIE
from geo.imports.run import IMPORT_KINDS
from geo.problem_rules import TRANSITIONS
from geo.problems import open_problem
from geo.settings import DatabaseSettings, Settings, WebSettings
from geo.users import authenticate, create_user, open_session
from tests.conftest import use_session
from tests.layer_fixtures import build_world
from web.i18n import LANGUAGES, messages
from web.offline import external_references
from web.ogc_pages import TEMPLATES_DIR
from web.value_labels import PUBLIC_FIELDS, value_labels

PASSWORD = "correct horse battery"
SITE = {"geometry": {"type": "Point", "coordinates": [106.05, 29.05]}, "industry_code": "2614"}


@pytest.fixture
def inspector(session) -> str:
    create_user(
        session, username="wang.li", display_name="王丽", role="inspector", password=PASSWORD
    )
    return "wang.li"


def signed_in(client: TestClient, username: str = "wang.li") -> str:
    """Sign in through the form; the CSRF token the pages embed."""
    form = {"username": username, "password": PASSWORD, "next": "/map"}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/map"
    assert SESSION_COOKIE in response.cookies
    page = client.get("/map")
    assert page.status_code == 200
    return re.search(r'id="pm-csrf">"([0-9a-f]+)"', page.text).group(1)


def test_staff_pages_send_anonymous_callers_to_sign_in(client) -> None:
    for path in ("/map", "/siting", "/siting/report?geometry=%7B%7D&industry_code=2614"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_a_wrong_password_or_name_is_refused_on_the_form(client, inspector) -> None:
    for username, password in ((inspector, "guess it"), ("nobody", PASSWORD)):
        form = {"username": username, "password": password, "next": "/map"}
        response = client.post("/login", data=form)
        assert response.status_code == 401
        assert "用户名或密码不正确" in response.text
        assert SESSION_COOKIE not in response.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil"])
def test_sign_in_never_redirects_off_the_site(client, inspector, target) -> None:
    form = {"username": inspector, "password": PASSWORD, "next": target}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.headers["location"] == "/map"


def test_sign_in_from_another_site_is_refused(client, inspector) -> None:
    form = {"username": inspector, "password": PASSWORD}
    response = client.post("/login", data=form, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403


def test_the_cookie_reads_staff_data_but_writes_need_the_csrf_token(
    client, session, inspector
) -> None:
    build_world(session)
    csrf = signed_in(client)
    assert client.get("/api/flags").status_code == 200
    assert client.post("/siting/check", json=SITE).status_code == 403
    assert client.post("/api/siting/check", json=SITE).status_code == 403
    wrong = client.post("/siting/check", json=SITE, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    right = client.post("/siting/check", json=SITE, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 200 and 'data-verdict="' in right.text
    client.post("/logout")
    assert client.get("/api/flags").status_code == 401


def test_forged_expired_or_revoked_cookies_are_nobody(client, session, inspector) -> None:
    signed_in(client)
    stolen = client.cookies[SESSION_COOKIE]
    client.post("/logout")
    user = authenticate(session, inspector, PASSWORD, now=datetime.now(UTC))
    expired = open_session(
        session,
        user,
        kind="browser",
        now=datetime.now(UTC) - timedelta(hours=13),
        lifetime=timedelta(hours=12),
    )
    api_token = open_session(
        session, user, kind="api", now=datetime.now(UTC), lifetime=timedelta(hours=1)
    )
    for cookie in (stolen, expired, api_token, "garbage"):
        client.cookies.set(SESSION_COOKIE, cookie)
        assert client.get("/api/flags").status_code == 401
        assert client.get("/map", follow_redirects=False).status_code == 303


def test_pages_carry_a_strict_policy_and_reference_nothing_elsewhere(
    client, session, inspector
) -> None:
    build_world(session)
    signed_in(client)
    for path in ("/map", "/siting", "/public", "/login"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "unsafe-eval" not in policy
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", response.text)
        assert scripts and all(f'nonce="{nonce}"' in attributes for attributes in scripts)
        assert external_references(response.text) == [], path


def test_the_public_map_shows_only_public_layers(client, session) -> None:
    build_world(session)
    page = client.get("/public").text
    assert "/tiles/units/" in page and "/tiles/flags/" not in page
    assert "enforcement_status" not in page and "open_flags" not in page


def test_language_switch_is_remembered(client) -> None:
    assert "信息公开地图" in client.get("/public").text
    english = client.get("/public?lang=en")
    assert "Public disclosure map" in english.text and '<html lang="en">' in english.text
    assert "Public disclosure map" in client.get("/public").text  # the cookie keeps it
    assert "信息公开地图" in client.get("/public?lang=zh").text


def test_a_configured_base_map_is_allowed_by_the_policy(db_url, session) -> None:
    settings = Settings(
        database=DatabaseSettings(database_url=db_url, db_warm_pool=False),
        web=WebSettings(basemap_url="https://tiles.example.gov.cn/{z}/{x}/{y}.png"),
    )
    app = create_app(settings)
    use_session(app, session)
    with TestClient(app) as client:
        response = client.get("/public")
    assert (
        "img-src 'self' data: blob: https://tiles.example.gov.cn;"
        in (response.headers["content-security-policy"])
    )
    assert "tiles.example.gov.cn/{z}/{x}/{y}.png" in response.text


def test_home_leads_to_the_public_map_or_the_staff_map(client, inspector) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/public"
    signed_in(client)
    assert client.get("/", follow_redirects=False).headers["location"] == "/map"


ENUM_OF_FIELD = {  # a panel's coded field → the database enum its values come from
    "category": "management_category",
    "permit_status": "permit_status",
    "flag_status": "flag_status",
    "severity": "severity",
    "medium": "medium",
    "problem_status": "problem_status",
    "problem_source": "problem_source",
    "zone_kind": "zone_kind",
}


def test_every_coded_value_a_panel_shows_has_its_label(session) -> None:
    for field, enum in ENUM_OF_FIELD.items():
        query = text(f"SELECT unnest(enum_range(NULL::{enum}))::text")
        values = set(session.execute(query).scalars())
        for language in LANGUAGES:
            assert set(value_labels(language, staff=True)[field]) == values, (field, language)
    zh = value_labels("zh", staff=True)
    assert zh["category"]["key"] == "重点管理" and zh["permit_status"]["withdrawn"] == "已吊销"
    assert (
        value_labels("en", staff=True)["enforcement_status"]["violation"] == "prohibited location"
    )


def test_anonymous_pages_get_the_labels_of_public_fields_only(client, inspector) -> None:
    def labels(page: str) -> dict:
        found = re.search(r'id="pm-values">(.*?)</script>', page, re.S)
        return json.loads(found.group(1))

    public = labels(client.get("/public").text)
    assert set(public) == set(PUBLIC_FIELDS) and public["category"]["key"] == "重点管理"
    signed_in(client)
    assert "enforcement_status" in labels(client.get("/map").text)


def _problem(session, unit_id: int, **extra) -> int:
    return open_problem(
        session,
        source="inspection",
        problem_type="over_limit_discharge",
        unit_id=unit_id,
        finding="废水总排口化学需氧量超标",
        department="江津区生态环境局执法支队",
        deadline=None,
        today=date(2026, 11, 24),
        opened_by="wang.li",
        **extra,
    )


def test_the_ledger_page_lists_filters_and_opens_a_problem(client, session, inspector) -> None:
    world = build_world(session)
    problem_id = _problem(session, world.units["valid"])
    assert client.get("/ledger", follow_redirects=False).headers["location"].startswith("/login")
    signed_in(client)
    page = client.get("/ledger")
    assert page.status_code == 200
    row = re.search(rf'<tr data-problem="{problem_id}".*?</tr>', page.text, re.S).group(0)
    assert "超标排放" in row and "待整改" in row and "江津区生态环境局执法支队" in row
    assert f'href="/map?unit={world.units["valid"]}"' in row
    assert 'id="pm-board"' in page.text and "清零看板" in page.text
    closed_only = client.get("/ledger?status=closed")
    assert f'data-problem="{problem_id}"' not in closed_only.text
    assert 'id="pm-ledger-empty"' in closed_only.text
    assert client.get("/ledger?status=nonsense").status_code == 422
    of_unit = client.get(f"/ledger?unit_id={world.units['valid']}")
    assert f'data-problem="{problem_id}"' in of_unit.text and 'id="pm-ledger-unit"' in of_unit.text
    other = client.get(f"/ledger?unit_id={world.units['expired_status']}")
    assert f'data-problem="{problem_id}"' not in other.text
    detail = client.get(f"/ledger/{problem_id}")
    assert detail.status_code == 200
    assert (
        'data-to="rectifying"' in detail.text and "开始整改" in detail.text
    )  # an inspector's step
    assert "废水总排口化学需氧量超标" in detail.text and 'id="pm-evidence-form"' in detail.text
    missing = client.get("/ledger/999999")
    assert missing.status_code == 404 and "problem 999999 does not exist" in missing.text


def test_every_message_a_template_names_exists_in_both_languages() -> None:
    """A missing key renders as nothing (jinja's default): names found in the templates, and the
    families the templates build from data, must all be messages."""
    named = set()
    for template in TEMPLATES_DIR.glob("pages/*.html"):
        source = template.read_text(encoding="utf-8")
        named |= set(re.findall(r"\bt\.([a-z_0-9]+)\b", source))
        named |= set(re.findall(r"\bt\['([a-z_0-9]+)'\]", source))
    built = {f"import_kind_{kind}" for kind in IMPORT_KINDS}
    built |= {f"ledger_step_{to}" for (_, to) in TRANSITIONS}
    built |= {f"crs_{crs}" for crs in ("wgs84", "cgcs2000", "gcj02", "bd09")}
    for language in LANGUAGES:
        known = messages(language)
        assert named - {"format", "get"} <= set(known), language
        assert built <= set(known), language

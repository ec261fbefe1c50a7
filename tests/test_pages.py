"""The pages over HTTP (no browser): sign-in and the session cookie, CSRF on cookie writes, the
Content Security Policy, nothing referenced off the server, the language switch."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import SESSION_COOKIE, session_cookie
from geo.settings import DatabaseSettings, Settings, WebSettings
from tests.conftest import use_session
from tests.layer_fixtures import build_world
from web.offline import external_references

TOKEN = "dev-staff-token"
SITE = {"geometry": {"type": "Point", "coordinates": [106.05, 29.05]}, "industry_code": "2614"}


def signed_in(client: TestClient) -> str:
    """Sign in through the form; the CSRF token the pages embed."""
    response = client.post("/login", data={"token": TOKEN, "next": "/map"}, follow_redirects=False)
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


def test_a_wrong_token_is_refused_on_the_form(client) -> None:
    response = client.post("/login", data={"token": "guess", "next": "/map"})
    assert response.status_code == 401
    assert "令牌无效" in response.text
    assert SESSION_COOKIE not in response.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil"])
def test_sign_in_never_redirects_off_the_site(client, target) -> None:
    response = client.post("/login", data={"token": TOKEN, "next": target}, follow_redirects=False)
    assert response.headers["location"] == "/map"


def test_sign_in_from_another_site_is_refused(client) -> None:
    response = client.post(
        "/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403


def test_the_cookie_reads_staff_data_but_writes_need_the_csrf_token(client, session) -> None:
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


def test_forged_or_expired_cookies_are_nobody(client) -> None:
    for cookie in (
        session_cookie("dev-staff", "not-the-token"),
        session_cookie("dev-staff", TOKEN, now=time.time() - 13 * 3600),
        "dev-staff|9999999999|" + "0" * 64,
        "garbage",
    ):
        client.cookies.set(SESSION_COOKIE, cookie)
        assert client.get("/api/flags").status_code == 401
        assert client.get("/map", follow_redirects=False).status_code == 303


def test_pages_carry_a_strict_policy_and_reference_nothing_elsewhere(client, session) -> None:
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


def test_home_leads_to_the_public_map_or_the_staff_map(client) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/public"
    signed_in(client)
    assert client.get("/", follow_redirects=False).headers["location"] == "/map"

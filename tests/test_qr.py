"""Outlet QR codes: decoded by a reader no one here wrote (zxing-cpp), they give the unit's
public page at the outlet's row; the printable sheet; who may ask."""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from api.app import create_app
from geo.settings import DatabaseSettings, Settings, WebSettings
from tests.conftest import use_session
from tests.layer_fixtures import build_world
from web.qr import qr_data_uri

STAFF = {"Authorization": "Bearer dev-staff-token"}


def decoded(png: bytes) -> str:
    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return found.text


def first_outlet(session) -> tuple[int, str, str, int]:
    return session.execute(
        text(
            "SELECT o.id, o.code, u.credit_code, u.site_seq FROM outlets o"
            " JOIN units u ON u.id = o.unit_id ORDER BY o.id LIMIT 1"
        )
    ).one()


def test_an_outlet_code_decodes_to_its_units_public_page(client, session) -> None:
    build_world(session)
    outlet_id, code, credit_code, site = first_outlet(session)
    response = client.get(f"/api/outlets/{outlet_id}/qr", headers=STAFF)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    url = decoded(response.content)
    assert url == f"http://testserver/public/units/{credit_code}?site={site}#outlet-{code}"
    page = client.get(urlsplit(url).path, params={"site": site})
    assert page.status_code == 200 and f'id="outlet-{code}"' in page.text
    svg = client.get(f"/api/outlets/{outlet_id}/qr", params={"format": "svg"}, headers=STAFF)
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content


def test_the_configured_public_address_is_what_signs_carry(db_url, session) -> None:
    build_world(session)
    settings = Settings(
        database=DatabaseSettings(database_url=db_url, db_warm_pool=False),
        web=WebSettings(public_base_url="https://sthjj.example.gov.cn/permitmap"),
    )
    app = create_app(settings)
    use_session(app, session)
    outlet_id, *_ = first_outlet(session)
    with TestClient(app) as other:
        png = other.get(f"/api/outlets/{outlet_id}/qr", headers=STAFF).content
    assert decoded(png).startswith("https://sthjj.example.gov.cn/permitmap/public/units/")


def test_the_printable_sheet_holds_a_card_per_outlet(client, session) -> None:
    build_world(session)
    outlets = session.execute(text("SELECT count(*) FROM outlets")).scalar_one()
    client.headers.update(STAFF)
    sheet = client.get("/qr/outlets")
    assert sheet.status_code == 200
    assert len(re.findall(r'class="pm-qr-card"', sheet.text)) == outlets
    assert "data:image/svg+xml" in sheet.text


def test_only_staff_get_codes(client, session) -> None:
    build_world(session)
    outlet_id, *_ = first_outlet(session)
    assert client.get(f"/api/outlets/{outlet_id}/qr").status_code == 401
    assert client.get("/api/outlets/999999/qr", headers=STAFF).status_code == 404
    sheet = client.get("/qr/outlets", follow_redirects=False)
    assert sheet.status_code == 303 and sheet.headers["location"].startswith("/login")


def test_data_uris_are_svg() -> None:
    assert qr_data_uri("https://example.gov.cn/").startswith("data:image/svg+xml")

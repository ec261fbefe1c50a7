"""Siting over HTTP and the command line: staff only, JSON or an uploaded file, problem details."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from geo.settings import DatabaseSettings, Settings, SitingSettings
from tests.conftest import use_session
from tests.factories import add_region
from tests.test_cli import run
from tests.test_screening import ZONE, add_zone

STAFF = {"Authorization": "Bearer dev-staff-token"}
INSIDE = {"type": "Point", "coordinates": [106.035, 29.035]}


@pytest.fixture(scope="module", autouse=True)
def zoning(engine):
    """A committed province and grade I zone (the CLI runs in another process)."""
    with Session(engine) as session, session.begin():
        add_region(session)
        add_zone(session, "water_protection", "I", "SY-TEST-I", ZONE)


def test_anonymous_is_refused(client) -> None:
    assert client.post("/api/siting/check", json={"geometry": INSIDE}).status_code == 401


def test_point_in_grade_one(client) -> None:
    body = {"geometry": INSIDE, "industry_code": "3360", "media": ["water"]}
    response = client.post("/api/siting/check", headers=STAFF, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["verdict"] == "prohibited"
    assert {r["code"] for r in answer["rules"]} == {"WP1-UNIT", "WP-OUTLET"}
    assert answer["zones"][0]["code"] == "SY-TEST-I"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"geometry": {"type": "Point"}, "industry_code": "3360"}, "geometry"),
        ({"geometry": INSIDE, "industry_code": "9999"}, "industry_code"),
        ({"geometry": INSIDE, "industry_code": "3360", "crs": "EPSG:3857"}, "crs"),
        ({"geometry": {"type": "Point", "coordinates": []}, "industry_code": "3360"}, "geometry"),
    ],
)
def test_bad_requests_name_the_field(client, body, field) -> None:
    response = client.post("/api/siting/check", headers=STAFF, json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.headers["content-type"] == "application/problem+json"


def test_uploaded_file(client) -> None:
    feature = {"type": "Feature", "geometry": INSIDE, "properties": {}}
    response = client.post(
        "/api/siting/check-file",
        headers=STAFF,
        files={"file": ("site.geojson", json.dumps(feature).encode(), "application/geo+json")},
        data={"industry_code": "1391", "media": "air"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "prohibited"  # grade I: no project unrelated to supply


def test_oversized_upload_is_refused(db_url, session) -> None:
    settings = Settings(
        database=DatabaseSettings(database_url=db_url), siting=SitingSettings(max_upload_bytes=1024)
    )
    app = create_app(settings)
    use_session(app, session)
    with TestClient(app) as small:
        response = small.post(
            "/api/siting/check-file",
            headers=STAFF,
            files={"file": ("big.geojson", b" " * 2048, "application/json")},
            data={"industry_code": "1391"},
        )
    assert response.status_code == 422
    assert response.json()["field"] == "file" and "1,024 bytes" in response.json()["title"]


def test_command_line(db_url, tmp_path) -> None:
    site = tmp_path / "site.geojson"
    site.write_text(json.dumps({"type": "Feature", "geometry": INSIDE, "properties": {}}))
    done = run("siting", str(site), "--industry", "3360", "--media", "water", database_url=db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("verdict: prohibited (3360 金属表面处理及热处理加工, new)")
    as_json = run("siting", str(site), "--industry", "3360", "--json", database_url=db_url)
    assert json.loads(as_json.stdout)["zones"][0]["code"] == "SY-TEST-I"
    missing = run("siting", str(tmp_path / "nope.kml"), "--industry", "3360", database_url=db_url)
    assert missing.returncode == 1 and missing.stderr.startswith("permitmap: cannot read")


def test_nothing_is_written(engine, client) -> None:
    with engine.connect() as conn:
        before = conn.execute(
            text("SELECT (SELECT count(*) FROM zones), (SELECT count(*) FROM flags)")
        ).one()
    client.post(
        "/api/siting/check", headers=STAFF, json={"geometry": INSIDE, "industry_code": "3360"}
    )
    with engine.connect() as conn:
        after = conn.execute(
            text("SELECT (SELECT count(*) FROM zones), (SELECT count(*) FROM flags)")
        ).one()
    assert before == after

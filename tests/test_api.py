"""The app: /health, /docs, and RFC 9457 problem details without internals."""

import asyncio
import re
import threading
import time

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from geo.settings import DatabaseSettings, Settings
from tests.browser import live_server


def test_health_reports_database_and_postgis_versions(client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["postgres"].startswith("15")
    assert body["database"]["postgis"].startswith("3.")


def test_docs_and_openapi_are_served_offline(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert {a for a in assets if a.startswith("/static/")} >= {
        "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui-5.35.0/swagger-ui.css",
    }
    for asset in assets:
        assert asset.startswith("/"), asset
        assert client.get(asset).status_code == 200, asset
    assert client.get("/openapi.json").json()["info"]["title"] == "permitmap"
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN


def test_unknown_path_is_a_problem_document(client) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {"type": "about:blank", "title": "Not Found", "status": 404}


def test_the_pool_starts_warm(db_url) -> None:
    settings = Settings(database=DatabaseSettings(database_url=db_url, db_pool_size=3))
    with TestClient(create_app(settings)) as client:
        pool = client.app.state.engine.pool
        assert pool.checkedin() == 3 and pool.checkedout() == 0


def test_a_lost_connection_fails_one_request_and_the_pool_recovers(db_url, engine) -> None:
    settings = Settings(database=DatabaseSettings(database_url=db_url, db_pool_size=2))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/tiles/units/0/0/0.mvt").status_code == 200
        with engine.connect() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        lost = client.get("/tiles/units/1/1/1.mvt")
        assert lost.status_code == 503 and lost.headers["retry-after"] == "1"
        assert lost.headers["content-type"] == "application/problem+json"
        assert client.get("/tiles/units/1/1/1.mvt").status_code == 200


def test_unreachable_database_gives_503_without_internals() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(Settings(database=DatabaseSettings(database_url=url)))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["title"].startswith("cannot reach the database at postgresql+psycopg://nobody:***@")
    assert "secret" not in response.text and "Traceback" not in response.text


def test_front_page_leads_to_the_public_map(client) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/public"


def test_a_page_waiting_on_the_database_does_not_stall_the_server(db_url, engine) -> None:
    """Pages do their database work off the event loop: while one waits on a lock, the
    server still answers others (a page that blocked the loop once held CI's sign-in 30 s)."""
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url, db_pool_size=2)))
    pages: list[int] = []
    with live_server(app) as base, engine.connect() as locker:
        locker.execute(text("LOCK TABLE data_versions IN ACCESS EXCLUSIVE MODE"))
        waiting = threading.Thread(
            target=lambda: pages.append(httpx.get(f"{base}/public", timeout=60).status_code)
        )
        waiting.start()
        deadline = time.monotonic() + 20
        while not _lock_waits(engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lock_waits(engine), "the page never reached the locked table"
        other = httpx.get(f"{base}/static/vendor/swagger-ui-5.35.0/swagger-ui.css", timeout=10)
        assert other.status_code == 200
        locker.rollback()
        waiting.join(timeout=60)
    assert pages == [200]


def test_more_requests_than_worker_threads_all_get_answers(db_url) -> None:
    """A request holds its database connection across thread hops (handler, serialisation):
    with more requests at work than threads, threads waited for connections held by requests
    waiting for threads, and 100 staff requests on a one-connection pool got 500s after 60 s.
    The request gate keeps fewer requests at work than threads: every one is answered."""
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url, db_pool_size=1)))
    staff = {"Authorization": "Bearer dev-staff-token"}

    async def many(base: str) -> list[int]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            calls = (http.get("/api/problems/dashboard", headers=staff) for _ in range(100))
            return [response.status_code for response in await asyncio.gather(*calls)]

    with live_server(app) as base:
        statuses = asyncio.run(many(base))
    assert statuses == [200] * 100


def _lock_waits(engine) -> int:
    with engine.connect() as probe:
        return probe.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = ("
                "SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalar_one()

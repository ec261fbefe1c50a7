"""Pages in a real headless chromium: they render, and load nothing from the internet."""

import pytest

from api.app import create_app
from geo.settings import DatabaseSettings, Settings
from tests.browser import live_server, offline_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_url(db_url):
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url)))
    with live_server(app) as url:
        yield url


def test_api_docs_render_offline(base_url) -> None:
    with offline_page(base_url) as (page, blocked):
        page.goto(f"{base_url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
        assert "permitmap" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector("text=/health", timeout=15_000)
    assert blocked == []


def test_the_guard_really_blocks_other_hosts(base_url) -> None:
    with offline_page(base_url) as (page, blocked):
        page.goto(f"{base_url}/docs")
        page.evaluate("fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist').catch(() => null)")
        page.wait_for_timeout(300)
    assert blocked == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist"]

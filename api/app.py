"""The app factory: settings in, FastAPI app out; the engine lives in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.gzip import GZipMiddleware

from api.errors import install_error_handlers
from api.request_gate import RequestGate, reserve_worker_threads
from api.routes import (
    auth,
    disclosure,
    draws,
    exports,
    features,
    health,
    import_page,
    imports,
    industries,
    ledger_exports,
    ledger_pages,
    monitoring,
    ogc,
    pages,
    penalties,
    permits,
    problems,
    qr,
    readings,
    reports,
    rules,
    screening,
    siting,
    tiles,
    units,
    zones,
)
from geo.clock import Clock, SystemClock
from geo.db import database_url, make_engine, warm_pool
from geo.settings import Settings
from layers.cache import TileCache
from layers.metadata import ExtentCache
from layers.tiles import TileLimits, warm_up
from web.assets import STATIC_DIR, STATIC_URL, SWAGGER_UI_CSS, SWAGGER_UI_FAVICON, SWAGGER_UI_JS


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the permitmap application (settings from the environment, and the system clock,
    when not given)."""
    settings = settings or Settings()
    settings.auth.check_for_production()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reserve_worker_threads(settings.server.busy_requests)
        pool_size = settings.database.db_pool_size
        url = database_url(settings.database, settings.cluster)
        # no pre-ping: one round trip less on every request; a lost connection fails one request
        # with a 503 and the pool is renewed
        engine = make_engine(url, pool_size=pool_size, pre_ping=False)
        if settings.database.db_warm_pool:
            with suppress(SQLAlchemyError):  # an unreachable database is /health's to report
                limits = TileLimits.from_settings(settings.layers)
                warm_pool(engine, pool_size, partial(warm_up, limits=limits))
        app.state.engine = engine
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="permitmap",
        summary="GIS monitoring map server for the pollutant discharge permit system (排污许可制)",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.tile_cache = TileCache(settings.layers.tile_cache_mb * 2**20)
    app.state.layer_extents = ExtentCache()
    install_error_handlers(app)
    # JSON and GeoJSON pages shrink ~10× at level 1; tiles arrive already gzipped and pass through
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=1)
    app.add_middleware(RequestGate, limit=settings.server.busy_requests)  # outermost
    app.include_router(health.router)
    app.include_router(ledger_exports.router)  # before /api/problems/{id} and /api/flags/…
    app.include_router(screening.router)
    app.include_router(rules.router)
    app.include_router(features.router)
    app.include_router(siting.router)
    app.include_router(zones.router)
    app.include_router(tiles.router)
    app.include_router(ogc.router)
    app.include_router(units.router)
    app.include_router(disclosure.router)
    app.include_router(industries.router)
    app.include_router(exports.router)
    app.include_router(auth.router)
    app.include_router(penalties.router)
    app.include_router(permits.router)
    app.include_router(reports.router)
    app.include_router(draws.router)
    app.include_router(qr.router)
    app.include_router(readings.router)
    app.include_router(pages.router)
    app.include_router(problems.router)
    app.include_router(monitoring.router)
    app.include_router(imports.router)
    app.include_router(import_page.router)
    app.include_router(ledger_pages.router)

    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from permitmap's own copy (the default page loads it from a CDN)."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="permitmap API",
            swagger_js_url=SWAGGER_UI_JS,
            swagger_css_url=SWAGGER_UI_CSS,
            swagger_favicon_url=SWAGGER_UI_FAVICON,
        )

    return app

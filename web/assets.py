"""Static assets permitmap serves itself (bureaus run on intranets: nothing from a CDN)."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static"
SWAGGER_UI = f"{STATIC_URL}/vendor/swagger-ui-5.35.0"
SWAGGER_UI_JS = f"{SWAGGER_UI}/swagger-ui-bundle.js"
SWAGGER_UI_CSS = f"{SWAGGER_UI}/swagger-ui.css"
SWAGGER_UI_FAVICON = f"{SWAGGER_UI}/favicon-32x32.png"
# Monitoring charts (uPlot, MIT): loaded by the pages that draw them, then permitmap's own script.
UPLOT = f"{STATIC_URL}/vendor/uplot-1.6.32"
UPLOT_JS = f"{UPLOT}/uPlot.iife.min.js"
UPLOT_CSS = f"{UPLOT}/uPlot.min.css"
MONITORING_JS = f"{STATIC_URL}/permitmap/monitoring.js"

"""The browser half of `bench.web`: one page measured in a fresh headless-chromium context.

A run navigates to a map page with the server's tile cache as it is, waits for the first full
paint, pans at the initial zoom, jumps to a city zoom, waits for it, pans there; every timing is
taken in the page by bench/web_probe.js (performance.now(), i.e. since the navigation started),
bytes (tile bodies as received, compressed) from Playwright's network records. Also the peer
page: plain Leaflet + Leaflet.VectorGrid from web/static/vendor, none of permitmap's page code.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.http_load import HOST
from bench.servers import OUT, Server, running
from geo.settings import PROJECT_ROOT

PROBE = Path(__file__).with_name("web_probe.js").read_text(encoding="utf-8")
VENDOR = PROJECT_ROOT / "web" / "static" / "vendor"
PEER_ASSETS = ("leaflet-1.9.4", "leaflet.vectorgrid-1.3.0")
PEER_DIR = OUT / "web-peer"
DEMO_USER = "demo-supervisor"  # added by `permitmap user demo` (password: permitmap-demo)
STAFF_TOKEN = "dev-staff-token"  # before users: geo.settings.DEVELOPMENT_STAFF_TOKENS
CITY = (29.56, 106.55, 12)  # Chongqing's centre (lat, lon) and a city zoom
PAN_STEPS, PAN_PX = 60, (12, 6)  # per frame; 60 frames ≈ 800 px
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 720}  # Playwright's default, made explicit

PEER_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>peer: Leaflet + VectorGrid + tipg</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="leaflet-1.9.4/leaflet.css">
<script src="leaflet-1.9.4/leaflet.js"></script>
<script src="leaflet.vectorgrid-1.3.0/Leaflet.VectorGrid.bundled.min.js"></script>
<style>body { margin: 0 }</style></head>
<body><div id="map"></div>
<script>
var q = new URLSearchParams(location.search), box = document.getElementById("map");
box.style.width = q.get("w") + "px";
box.style.height = q.get("h") + "px";
var map = L.map("map", { preferCanvas: true })
  .setView([+q.get("lat"), +q.get("lng")], +q.get("z"));
var units = L.vectorGrid.protobuf(q.get("tiles"), {
  rendererFactory: L.canvas.tile, interactive: true, maxZoom: 20,
  vectorTileLayerStyles: { "default": {
    radius: 5, fill: true, fillColor: "#1565c0", fillOpacity: 0.9, color: "#ffffff", weight: 1
  } }
}).addTo(map);
window.benchPeer = { map: map, grids: { units: units } };
document.body.setAttribute("data-ready", "true");
</script></body></html>
"""


@dataclass(frozen=True)
class View:
    """A map view: centre, zoom and the map's size in CSS pixels."""

    lat: float
    lng: float
    zoom: int
    width: int
    height: int


@dataclass
class Step:
    """One phase of a run: its time (ms), the tiles it loaded and their bytes, the frames."""

    ms: float
    tiles: int = 0
    issued: int = 0
    bytes: int = 0
    frames: list[float] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # the tiles' URLs (bytes are counted at the end)
    settle_ms: float = 0.0  # after a pan: until its tiles are drawn
    timeout: bool = False


@dataclass
class PageRun:
    """A page measured in one fresh browser context."""

    url: str
    paint: Step
    breakdown: dict[str, float]  # document TTFB, map ready, first tile issued, last tile done
    view: View | None = None
    pans: dict[str, Step] = field(default_factory=dict)
    city_ms: float | None = None
    errors: list[str] = field(default_factory=list)


class _Net:
    """Bytes and statuses of the tile responses, from Playwright's network events."""

    def __init__(self, page: Any, pattern: str) -> None:
        self.pattern, self.bad = pattern, []
        self.finished: dict[str, list[Any]] = defaultdict(list)
        page.on("requestfinished", self._finished)
        page.on("requestfailed", lambda r: self.bad.append(f"failed {r.url}: {r.failure}"))

    def _finished(self, request: Any) -> None:
        if self.pattern in request.url:
            self.finished[request.url].append(request)

    def count_bytes(self, step: Step) -> None:
        """Set the step's bytes: encoded body bytes of its tile responses, each taken once."""
        for url in step.urls:
            if not self.finished[url]:
                self.bad.append(f"no network record of {url}")
                continue
            request = self.finished[url].pop(0)
            response = request.response()
            if response is not None and response.status != 200:
                self.bad.append(f"HTTP {response.status} {url}")
            step.bytes += request.sizes()["responseBodySize"]


def _step(page: Any, t0: float, settled: dict[str, Any]) -> Step:
    between = page.evaluate("([a, b]) => window.__bench.tilesBetween(a, b)", [t0, settled["t"]])
    return Step(
        ms=settled["t"] - t0,
        tiles=len(between["done"]),
        issued=between["issued"],
        urls=between["done"],
        timeout=settled["timeout"],
    )


def _settle(page: Any) -> dict[str, Any]:
    return page.evaluate("(ms) => window.__bench.settled(ms)", TIMEOUT_MS)


def _pan(page: Any) -> Step:
    t0 = page.evaluate("() => performance.now()")
    frames = page.evaluate("([n, dx, dy]) => window.__bench.pan(n, dx, dy)", [PAN_STEPS, *PAN_PX])
    t1 = page.evaluate("() => performance.now()")
    step = _step(page, t0, {"t": t1, "timeout": False})
    after = _settle(page)
    step.frames, step.settle_ms, step.timeout = frames, after["t"] - t1, after["timeout"]
    return step


def measure(
    browser: Any, base: str, path: str, pattern: str, *, staff: bool, pans: bool
) -> PageRun:
    """Navigate a fresh context to `base + path`; first paint, then (if `pans`) the pans."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.add_init_script(script=f"window.__benchTiles = {pattern!r};")
        context.add_init_script(script=PROBE)
        if staff:
            sign_in(context, base, path)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        net = _Net(page, pattern)
        page.goto(base + path, wait_until="commit")
        settled = _settle(page)
        if urlsplit(page.url).path != urlsplit(base + path).path:
            raise SystemExit(f"{base + path} ended at {page.url} (not signed in?)")
        run = PageRun(
            base + path,
            _step(page, 0.0, settled),
            page.evaluate("() => window.__bench.breakdown()"),
        )
        if pans:
            run.view = View(**page.evaluate("() => window.__bench.view()"))
            run.pans["initial"] = _pan(page)
            t0 = page.evaluate(
                "([lat, lng, z]) => { window.__bench.target().map.setView([lat, lng], z, "
                "{animate: false}); return performance.now(); }",
                list(CITY),
            )
            city = _settle(page)
            run.city_ms = city["t"] - t0
            if city["timeout"]:
                errors.append(f"city zoom: tiles not all drawn within {TIMEOUT_MS} ms")
            run.pans["city"] = _pan(page)
        for name, step in {"first paint": run.paint, **run.pans}.items():
            net.count_bytes(step)
            if step.timeout:
                errors.append(f"{name}: tiles not all drawn within {TIMEOUT_MS} ms")
        run.errors = errors + net.bad
        return run
    finally:
        context.close()


def sign_in(context: Any, base: str, path: str) -> None:
    """POST the sign-in form, as the page's form does; the session cookie it sets stays in the
    context. Staff sign in as users (the demo supervisor, `permitmap user demo`); a tree from
    before users (commit 5f86984 and older) took a service token (`token`) instead."""
    password = os.environ.get("PERMITMAP_DEMO_PASSWORD", "permitmap-demo")
    for fields in ({"username": DEMO_USER, "password": password}, {"token": STAFF_TOKEN}):
        answer = context.request.post(
            base + "/login", form={**fields, "next": path}, max_redirects=0
        )
        if answer.status == 303:
            return
    raise SystemExit(f"cannot sign in at {base}/login (last answer: HTTP {answer.status})")


def peer_url(base: str, tiles: str, view: View) -> str:
    """The peer page for `view`, drawing the units from the tile URL template `tiles`."""
    query = {"lat": view.lat, "lng": view.lng, "z": view.zoom, "w": view.width}
    return f"{base}/index.html?" + urlencode({**query, "h": view.height, "tiles": tiles})


@contextmanager
def peer_site(port: int) -> Iterator[str]:
    """The peer page and the vendored Leaflet and VectorGrid, served by `python -m http.server`
    (a separate process) from bench/out/web-peer; yields its base URL."""
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    (PEER_DIR / "index.html").write_text(PEER_HTML, encoding="utf-8")
    for name in PEER_ASSETS:
        link = PEER_DIR / name
        if not link.exists():
            link.symlink_to(VENDOR / name, target_is_directory=True)
    command = [sys.executable, "-m", "http.server", str(port), "--bind", HOST]
    site = Server(
        name="web-peer-page",
        command=[*command, "--directory", str(PEER_DIR)],
        env=dict(os.environ),
        port=port,
        probe="/index.html",
        tile="",
        items="",
        item="",
    )
    with running(site):
        yield f"http://{HOST}:{port}"

"""Make folium pages load every JS/CSS asset from permitmap's own /static (no CDN, no internet).

folium declares its assets as class attributes ``default_js``/``default_css`` (lists of
``(name, url)`` pointing at CDNs) shared by every instance; its own ``add_js_link`` edits those
class lists in place. Here each element gets *instance* lists with the vendored copies from
``web/static/vendor`` (see its README.md), so other maps and folium itself are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import MappingProxyType

from branca.element import Element
from folium.elements import JSCSSMixin

from web.assets import STATIC_URL

VENDOR = f"{STATIC_URL}/vendor"
LEAFLET_JS = f"{VENDOR}/leaflet-1.9.4/leaflet.js"
LEAFLET_CSS = f"{VENDOR}/leaflet-1.9.4/leaflet.css"
JQUERY_JS = f"{VENDOR}/jquery-3.7.1/jquery.min.js"
BOOTSTRAP_JS = f"{VENDOR}/bootstrap-5.2.2/js/bootstrap.bundle.min.js"
BOOTSTRAP_CSS = f"{VENDOR}/bootstrap-5.2.2/css/bootstrap.min.css"
FONTAWESOME_CSS = f"{VENDOR}/fontawesome-free-6.2.0/css/all.min.css"
AWESOME_MARKERS_JS = f"{VENDOR}/leaflet.awesome-markers-2.0.5/leaflet.awesome-markers.js"
AWESOME_MARKERS_CSS = f"{VENDOR}/leaflet.awesome-markers-2.0.5/leaflet.awesome-markers.css"
VECTORGRID_JS = f"{VENDOR}/leaflet.vectorgrid-1.3.0/Leaflet.VectorGrid.bundled.min.js"
VECTORGRID_FIX_JS = f"{STATIC_URL}/permitmap/vectorgrid-fix.js"
DRAW_JS = f"{VENDOR}/leaflet-draw-1.0.2/leaflet.draw.js"
DRAW_CSS = f"{VENDOR}/leaflet-draw-1.0.2/leaflet.draw.css"

_JSDELIVR = "https://cdn.jsdelivr.net/npm"
_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"

LOCAL_URLS = MappingProxyType(
    {
        # folium.Map. Its leaflet 1.9.3 is served as our 1.9.4 copy (patch release, same API).
        f"{_JSDELIVR}/leaflet@1.9.3/dist/leaflet.js": LEAFLET_JS,
        f"{_JSDELIVR}/leaflet@1.9.3/dist/leaflet.css": LEAFLET_CSS,
        "https://code.jquery.com/jquery-3.7.1.min.js": JQUERY_JS,
        f"{_JSDELIVR}/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": BOOTSTRAP_JS,
        f"{_JSDELIVR}/bootstrap@5.2.2/dist/css/bootstrap.min.css": BOOTSTRAP_CSS,
        f"{_JSDELIVR}/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": FONTAWESOME_CSS,
        # cdnjs 2.0.2 has no npm release; npm's 2.0.5 ships the same plugin code.
        f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": AWESOME_MARKERS_JS,
        f"{_CDNJS}/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": AWESOME_MARKERS_CSS,
        # folium.plugins.VectorGridProtobuf: "@latest" has been 1.3.0 since 2017.
        "https://unpkg.com/leaflet.vectorgrid@latest/dist/Leaflet.VectorGrid.bundled.js": (
            VECTORGRID_JS
        ),
        # folium.plugins.Draw (1.0.3/1.0.4 break rectangles, so 1.0.2 it stays).
        f"{_CDNJS}/leaflet.draw/1.0.2/leaflet.draw.js": DRAW_JS,
        f"{_CDNJS}/leaflet.draw/1.0.2/leaflet.draw.css": DRAW_CSS,
    }
)

DROPPED_URLS = MappingProxyType(
    {
        # Bootstrap 3 icon font; only for folium.Icon(prefix="glyphicon"). Use prefix="fa".
        "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": (
            "Bootstrap 3 glyphicons: not in the bootstrap 5 npm package; use Icon(prefix='fa')"
        ),
        "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/"
        "leaflet.awesome.rotate.min.css": (
            "only in folium's GitHub tree (not in its wheel, not on npm); needed only for "
            "Icon(angle=...) other than 0/90/180/270, which Font Awesome covers itself"
        ),
    }
)

# Local scripts that must load right after a vendored one.
FOLLOW_UPS = MappingProxyType({VECTORGRID_JS: (("vectorgrid_fix", VECTORGRID_FIX_JS),)})

_EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_REFERENCE = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*\\?["']?|url\(\s*\\?["']?|@import\s+["']"""
    r"""|\bL\.[\w.]+\(\s*["'](?=(?:https?:)?/|\.))(?P<url>[^"'\\\s>)]+)""",
    re.IGNORECASE,
)


def _localized(links: list[tuple[str, str]], owner: JSCSSMixin) -> list[tuple[str, str]]:
    """``links`` with CDN URLs swapped for local ones; raises on a URL with no local copy."""
    out: list[tuple[str, str]] = []
    for name, url in links:
        if url in DROPPED_URLS:
            continue
        local = LOCAL_URLS.get(url, url)
        if _EXTERNAL.match(local):
            raise ValueError(
                f"{type(owner).__name__} asset {name!r} references {url!r}, which has no local "
                "copy: vendor it under web/static/vendor and add it to web.offline.LOCAL_URLS"
            )
        for pair in ((name, local), *FOLLOW_UPS.get(local, ())):
            if pair[0] not in {n for n, _ in out}:
                out.append(pair)
    return out


def localize(element: JSCSSMixin) -> JSCSSMixin:
    """Point one Map/plugin instance's ``default_js``/``default_css`` at /static; return it.

    Sets instance attributes only (folium's class-level lists stay as they are). Idempotent.
    Raises ``ValueError`` naming the URL if the element needs an asset that is not vendored.
    """
    element.default_js = _localized(element.default_js, element)
    element.default_css = _localized(element.default_css, element)
    return element


def walk(root: Element) -> Iterator[Element]:
    """``root`` and all of its descendants, depth first."""
    yield root
    for child in root._children.values():
        yield from walk(child)


def localize_tree(root: Element) -> Element:
    """:func:`localize` ``root`` and every ``JSCSSMixin`` below it; return ``root``.

    Call just before rendering: elements added later (or a page rendered earlier) keep CDN links.
    """
    for element in walk(root):
        if isinstance(element, JSCSSMixin):
            localize(element)
    return root


def references(html: str) -> list[str]:
    """URLs a page loads: ``src=``, ``href=``, CSS ``url(``/``@import`` and URL-first ``L.*(``.

    Also finds them inside JS strings (``href=\\"...\\"``), e.g. in tile-layer attributions.
    Unique, in order of first appearance.
    """
    return list(dict.fromkeys(m["url"] for m in _REFERENCE.finditer(html)))


def external_references(html: str) -> list[str]:
    """The :func:`references` of a rendered page that point off the server (http, https, //)."""
    return [url for url in references(html) if _EXTERNAL.match(url)]

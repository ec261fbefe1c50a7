"""folium pages load every asset from /static: vendored files, localizer, no CDN (no database)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import folium
import pytest
from folium.elements import JSCSSMixin
from folium.plugins import Draw, MarkerCluster, VectorGridProtobuf

from web.assets import STATIC_DIR, STATIC_URL
from web.offline import (
    DRAW_CSS,
    DRAW_JS,
    DROPPED_URLS,
    FOLLOW_UPS,
    LEAFLET_CSS,
    LEAFLET_JS,
    LOCAL_URLS,
    VECTORGRID_FIX_JS,
    VECTORGRID_JS,
    external_references,
    localize,
    localize_tree,
    references,
)

VENDOR_DIR = STATIC_DIR / "vendor"
FOLIUM_CLASSES = (JSCSSMixin, folium.Map, VectorGridProtobuf, Draw, MarkerCluster)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+?)["']?\s*\)""")


def permit_map() -> folium.Map:
    m = folium.Map(location=[29.56, 106.55], zoom_start=9, tiles=None)
    VectorGridProtobuf("/tiles/permits/{z}/{x}/{y}.pbf", "permits", {"interactive": True}).add_to(m)
    Draw(export=False).add_to(m)
    folium.Marker([29.56, 106.55], icon=folium.Icon(prefix="fa", icon="industry")).add_to(m)
    return m


def local_path(url: str) -> Path:
    assert url.startswith(f"{STATIC_URL}/"), url
    return STATIC_DIR / url.removeprefix(f"{STATIC_URL}/").split("?")[0]


@pytest.fixture(scope="module")
def page() -> str:
    return localize_tree(permit_map()).get_root().render()


def test_localized_page_references_nothing_off_server(page: str) -> None:
    assert external_references(page) == []
    for url in DROPPED_URLS:
        assert url not in page


def test_localized_page_loads_the_vendored_copies_in_order(page: str) -> None:
    refs = references(page)
    for url in (LEAFLET_JS, LEAFLET_CSS, VECTORGRID_JS, VECTORGRID_FIX_JS, DRAW_JS, DRAW_CSS):
        assert url in refs
    assert refs.index(LEAFLET_JS) < refs.index(VECTORGRID_JS) < refs.index(VECTORGRID_FIX_JS)
    assert refs.count(VECTORGRID_FIX_JS) == 1


def test_every_local_asset_the_page_references_exists(page: str) -> None:
    static = [url for url in references(page) if url.startswith(f"{STATIC_URL}/")]
    assert len(static) >= 10
    assert [url for url in static if not local_path(url).is_file()] == []


def test_every_mapped_url_has_a_file() -> None:
    targets = [*LOCAL_URLS.values()] + [url for f in FOLLOW_UPS.values() for _, url in f]
    assert [url for url in targets if not local_path(url).is_file()] == []
    assert not set(LOCAL_URLS) & set(DROPPED_URLS)


@pytest.mark.parametrize("css", sorted(VENDOR_DIR.rglob("*.css")), ids=lambda p: p.name)
def test_vendored_css_url_targets_exist(css: Path) -> None:
    text = css.read_text(encoding="utf-8")
    assert external_references(text) == []
    missing = []
    for target in CSS_URL.findall(text):
        if target.startswith(("data:", "#")):
            continue
        if not (css.parent / target.split("?")[0].split("#")[0]).is_file():
            missing.append(target)
    assert missing == []


def test_folium_class_level_lists_are_not_mutated() -> None:
    before = {c: (c.default_js, list(c.default_js), list(c.default_css)) for c in FOLIUM_CLASSES}
    m = permit_map()
    localize_tree(m)
    localize(VectorGridProtobuf("/t/{z}/{x}/{y}.pbf"))
    for cls, (js_list, js, css) in before.items():
        assert cls.default_js is js_list
        assert (cls.default_js, cls.default_css) == (js, css)
    assert external_references(folium.Map(tiles=None).get_root().render()) != []
    assert m.default_js is not folium.Map.default_js


def test_localize_is_idempotent_and_adds_the_fix_once() -> None:
    layer = localize(VectorGridProtobuf("/t/{z}/{x}/{y}.pbf"))
    first = list(layer.default_js)
    assert localize(layer).default_js == first
    assert [url for _, url in first] == [VECTORGRID_JS, VECTORGRID_FIX_JS]


def test_localize_raises_naming_an_unmapped_url() -> None:
    class Remote(JSCSSMixin):
        default_js: ClassVar = [("remote", "https://cdn.example.com/remote.js")]

    with pytest.raises(ValueError, match=re.escape("https://cdn.example.com/remote.js")):
        localize(Remote())
    m = folium.Map(tiles=None)
    MarkerCluster().add_to(m)
    with pytest.raises(ValueError, match=re.escape("leaflet.markercluster")):
        localize_tree(m)


def test_external_references_finds_every_form() -> None:
    html = """<script src="https://a.example/x.js"></script><link href='//b.example/y.css'>
    <img src=http://c.example/z.png><style>p { background: url( "https://d.example/i.png" ) }
    @import "https://e.example/s.css";</style><script>L.tileLayer("https://f.example/{z}/{x}/{y}.png",
    {"attribution": "\\u003ca href=\\"https://g.example/\\"\\u003eG\\u003c/a\\u003e"}); L.map("m");
    </script><script src="/static/ok.js"></script><a href="#top"></a>
    <img src="data:image/png;base64,AA">"""
    assert external_references(html) == [
        "https://a.example/x.js",
        "//b.example/y.css",
        "http://c.example/z.png",
        "https://d.example/i.png",
        "https://e.example/s.css",
        "https://f.example/{z}/{x}/{y}.png",
        "https://g.example/",
    ]
    assert "/static/ok.js" in references(html)
    assert "m" not in references(html)


def test_each_vendor_dir_has_a_licence_and_a_readme_entry() -> None:
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    dirs = [d for d in VENDOR_DIR.iterdir() if d.is_dir()]
    assert len(dirs) >= 8
    for d in dirs:
        assert any(f.name.upper().startswith(("LICENSE", "LICENCE")) for f in d.iterdir()), d
        assert f"`{d.name}`" in readme, d.name

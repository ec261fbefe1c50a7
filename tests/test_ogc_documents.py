"""The /ogc OpenAPI document per audience and the HTML pages of OGC documents (no database)."""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from layers.declarations import Audience
from layers.ogc_openapi import OPENAPI_VERSION, openapi_document
from layers.registry import LAYERS, layers_for
from web.ogc_pages import geometry_summary, render_ogc_page, safe_href, with_html_format

BASE = "https://permitmap.example.gov.cn"
MAX_LIMIT = 500
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def public() -> dict[str, Any]:
    return openapi_document(Audience.PUBLIC, BASE, MAX_LIMIT)


@pytest.fixture(scope="module")
def staff() -> dict[str, Any]:
    return openapi_document(Audience.STAFF, BASE, MAX_LIMIT)


def _validate(document: dict[str, Any]) -> None:
    """Validate with openapi-spec-validator when installed; structural checks always."""
    assert document["openapi"] == "3.0.3" == OPENAPI_VERSION
    assert {"info", "servers", "paths", "components"} <= set(document)
    assert document["info"]["title"] and document["info"]["version"]
    for path, item in document["paths"].items():
        assert path.startswith("/")
        assert item["get"]["operationId"] and "200" in item["get"]["responses"]
    refs = re.findall(r'"\$ref": "#/components/(\w+)/([\w.-]+)"', json.dumps(document))
    assert refs
    for kind, name in refs:
        assert name in document["components"][kind], f"dangling $ref {kind}/{name}"
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover - the validator is a dev dependency
        return
    validate(document)


def _staff_only_names() -> set[str]:
    """Names of staff-only fields that no public layer uses for a public field."""
    public = {
        f.name for layer in layers_for(Audience.PUBLIC) for f in layer.fields_for(Audience.PUBLIC)
    }
    staff_only = {f.name for layer in LAYERS.values() for f in layer.fields if not f.public}
    return staff_only - public


def _staff_only_titles() -> set[str]:
    """Chinese titles of staff-only fields that no public field shares."""
    public = {
        f.title_zh
        for layer in layers_for(Audience.PUBLIC)
        for f in layer.fields_for(Audience.PUBLIC)
    }
    return {f.title_zh for layer in LAYERS.values() for f in layer.fields if not f.public} - public


def test_public_document_is_valid_openapi_3_0(public: dict[str, Any]) -> None:
    _validate(public)
    assert public["servers"] == [{"url": f"{BASE}/ogc"}]
    assert {"/", "/api", "/conformance", "/collections"} <= set(public["paths"])


def test_staff_document_is_valid_openapi_3_0(staff: dict[str, Any]) -> None:
    _validate(staff)


def test_every_visible_layer_has_its_paths_and_schemas(public: dict[str, Any]) -> None:
    for layer in layers_for(Audience.PUBLIC):
        base = f"/collections/{layer.id}"
        for path in (base, f"{base}/items", f"{base}/items/{{featureId}}", f"{base}/queryables"):
            assert path in public["paths"], path
            assert public["paths"][path]["get"]["tags"] == [layer.id]
    operation_ids = [item["get"]["operationId"] for item in public["paths"].values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert public["paths"]["/collections/units/items"]["get"]["operationId"] == "getUnitsFeatures"
    zones = public["paths"]["/collections/zones_water_protection/items"]["get"]
    assert zones["operationId"] == "getZonesWaterProtectionFeatures"
    assert "UnitsFeatureCollection" in public["components"]["schemas"]


def test_public_document_has_no_staff_layer(public: dict[str, Any]) -> None:
    flags = LAYERS["flags"]
    assert not any(path.startswith("/collections/flags") for path in public["paths"])
    assert "flags" not in {tag["name"] for tag in public["tags"]}
    assert not any(name.startswith("Flags") for name in public["components"]["schemas"])
    text = json.dumps(public, ensure_ascii=False)
    assert flags.title_zh not in text and flags.title_en not in text


def test_public_document_has_no_staff_only_field(public: dict[str, Any]) -> None:
    names = _staff_only_names()
    assert {"enforcement_status", "address", "open_flags", "status"} <= names
    assert "id" not in names
    # "status" is also a member of RFC 9457 problem details: look everywhere but there.
    rest = copy.deepcopy(public)
    problem = rest["components"]["schemas"].pop("ProblemDetails")
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "field", "value"}
    text = json.dumps(rest, ensure_ascii=False)
    assert sorted(name for name in names if name in text) == []
    assert sorted(title for title in _staff_only_titles() if title in text) == []
    units = public["components"]["schemas"]["UnitsProperties"]["properties"]
    assert set(units) == {f.name for f in LAYERS["units"].fields if f.public}


def test_staff_document_has_staff_layer_and_fields(staff: dict[str, Any]) -> None:
    assert "/collections/flags/items" in staff["paths"]
    units = staff["components"]["schemas"]["UnitsProperties"]["properties"]
    assert {"enforcement_status", "address", "open_flags"} <= set(units)
    parameters = staff["paths"]["/collections/units/items"]["get"]["parameters"]
    assert "enforcement_status" in {p.get("name") for p in parameters}


def _parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The operation's parameters by name, references resolved."""
    resolved = {}
    for parameter in document["paths"][path]["get"]["parameters"]:
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].split("/")[-1]]
        resolved[parameter["name"]] = parameter
    return resolved


def test_items_parameters(public: dict[str, Any]) -> None:
    units = _parameters(public, "/collections/units/items")
    assert units["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_LIMIT,
        "default": 10,
    }
    assert units["offset"]["schema"]["minimum"] == 0
    assert units["bbox"]["style"] == "form" and units["bbox"]["explode"] is False
    crs_uris = {
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        "http://www.opengis.net/def/crs/EPSG/0/4490",
    }
    for name in ("crs", "bbox-crs", "filter-crs"):
        assert set(units[name]["schema"]["enum"]) == crs_uris
    assert units["filter-lang"]["schema"]["enum"] == ["cql2-text", "cql2-json"]
    assert set(units["f"]["schema"]["enum"]) == {"json", "geojson", "html"}
    assert "datetime" in units  # units are temporal, outlets are not
    assert "datetime" not in _parameters(public, "/collections/outlets/items")
    assert units["permit_valid_from"]["schema"] == {"type": "string", "format": "date"}
    assert units["county_code"]["schema"] == {"type": "string"}
    rivers = _parameters(public, "/collections/rivers/items")
    assert rivers["is_main"]["schema"] == {"type": "boolean"}
    assert rivers["stream_order"]["schema"] == {"type": "integer"}


def test_item_and_error_responses(public: dict[str, Any], staff: dict[str, Any]) -> None:
    admin = _parameters(public, "/collections/admin_regions/items/{featureId}")
    assert admin["featureId"]["schema"] == {"type": "string"}  # admin regions are keyed by code
    units = _parameters(public, "/collections/units/items/{featureId}")
    assert units["featureId"]["schema"] == {"type": "integer"}
    responses = public["paths"]["/collections/units/items"]["get"]["responses"]
    assert set(responses["200"]["content"]) == {
        "application/geo+json",
        "application/json",
        "text/html",
    }
    for code, name in (("400", "BadRequest"), ("404", "NotFound")):
        assert responses[code] == {"$ref": f"#/components/responses/{name}"}
        content = public["components"]["responses"][name]["content"]
        assert list(content) == ["application/problem+json"]
    last_seen = staff["components"]["schemas"]["FlagsProperties"]["properties"]["last_seen"]
    assert last_seen["format"] == "date-time"


# ---------------------------------------------------------------------------------------------
# HTML pages

OGC = "http://h.test/ogc"
LINKS = [
    {"href": f"{OGC}/?f=json", "rel": "self", "type": "application/json", "title": "本页 JSON"},
    {"href": f"{OGC}/?f=html", "rel": "alternate", "type": "text/html", "title": SCRIPT},
    {"href": "javascript:alert(1)", "rel": "evil", "type": "text/html", "title": "evil"},
]
COLLECTION = {
    "id": "units",
    "title": "排污单位",
    "description": f"描述 {SCRIPT}",
    "extent": {
        "spatial": {"bbox": [[118.0, 27.0, 123.0, 31.5]], "crs": "CRS84"},
        "temporal": {"interval": [["2020-01-01T00:00:00Z", None]]},
    },
    "itemType": "feature",
    "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
    "storageCrs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "links": [
        {"href": f"{OGC}/collections/units?f=json", "rel": "self", "type": "application/json"},
        {"href": f"{OGC}/collections/units/items", "rel": "items", "type": "application/geo+json"},
    ],
}
FEATURE = {
    "type": "Feature",
    "id": 7,
    "geometry": {"type": "Point", "coordinates": [120.15, 30.28]},
    "properties": {"name": SCRIPT, "county_name": "西湖区", "permit_valid_to": None},
}
ITEMS_URL = f"{OGC}/collections/units/items"
DOCUMENTS: dict[str, dict[str, Any]] = {
    "landing": {"title": "permitmap", "description": SCRIPT, "links": LINKS},
    "conformance": {
        "conformsTo": [
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            SCRIPT,
        ]
    },
    "collections": {"links": LINKS, "collections": [COLLECTION]},
    "collection": COLLECTION,
    "queryables": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{OGC}/collections/units/queryables",
        "type": "object",
        "title": "排污单位",
        "properties": {
            "name": {"type": "string", "title": SCRIPT},
            "permit_valid_to": {"type": "string", "format": "date", "title": "有效期至"},
        },
    },
    "items": {
        "type": "FeatureCollection",
        "numberMatched": 12,
        "numberReturned": 2,
        "timeStamp": "2026-11-24T08:00:00Z",
        "links": [
            {
                "href": f"{ITEMS_URL}?limit=2&offset=2",
                "rel": "self",
                "type": "application/geo+json",
            },
            {
                "href": f"{ITEMS_URL}?limit=2&offset=4",
                "rel": "next",
                "type": "application/geo+json",
            },
            {
                "href": f"{ITEMS_URL}?limit=2&offset=0",
                "rel": "prev",
                "type": "application/geo+json",
            },
        ],
        "features": [
            FEATURE,
            {
                "type": "Feature",
                "id": "a b",
                "geometry": {"type": "Polygon", "coordinates": [[[1, 2], [3, 2], [3, 4], [1, 2]]]},
                "properties": {"extra": [1, 2], "name": "第二"},
            },
        ],
    },
    "item": FEATURE | {"links": [{"href": f"{ITEMS_URL}/7?f=json", "rel": "self"}]},
}


def _urls(value: object) -> set[str]:
    """Every http(s) string anywhere in a document."""
    if isinstance(value, dict):
        return set().union(*(_urls(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_urls(v) for v in value)) if value else set()
    return {value} if isinstance(value, str) and value.startswith("http") else set()


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_page_is_escaped_and_self_contained(kind: str) -> None:
    document = DOCUMENTS[kind]
    page = render_ogc_page(kind, document, title=f"标题 {SCRIPT}")
    assert page.startswith("<!doctype html>")
    assert '<html lang="zh-CN">' in page and '<meta charset="utf-8">' in page
    assert f"标题 {ESCAPED}" in page
    assert ESCAPED in page
    assert "<script" not in page.lower()
    assert "javascript:" not in page
    assert " src=" not in page and "<link" not in page and "@import" not in page
    hosts = {urlsplit(url).netloc for url in _urls(document)}
    for href in re.findall(r'href="([^"]*)"', page):
        url = urlsplit(html.unescape(href))
        assert url.scheme in ("", "http", "https"), href
        assert not url.scheme or url.netloc in hosts, href


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_page_shows_the_document_links(kind: str) -> None:
    document = DOCUMENTS[kind]
    page = html.unescape(render_ogc_page(kind, document, title="t"))
    links = document.get("links", []) if kind != "collections" else document["links"]
    for link in links:
        if link["href"].startswith("http"):
            assert f'href="{link["href"]}"' in page


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
def test_page_tolerates_missing_keys(kind: str) -> None:
    assert "<h1>空</h1>" in render_ogc_page(kind, {}, title="空")
    broken = {"links": [None, {"rel": "self"}, "x"], "features": [None, {"id": 1}]}
    broken |= {"collections": [None, {}], "properties": {"a": None}, "extent": []}
    assert "<h1>坏</h1>" in render_ogc_page(kind, broken, title="坏")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        render_ogc_page("tiles", {}, title="t")


def test_items_page_table_links_and_paging() -> None:
    page = html.unescape(render_ogc_page("items", DOCUMENTS["items"], title="排污单位"))
    header = re.search(r"<thead>(.*?)</thead>", page, re.S)
    assert header is not None
    columns = re.findall(r"<th>([^<]*)</th>", header.group(1))
    assert columns == ["id", "几何 geometry", "name", "county_name", "permit_valid_to", "extra"]
    assert f'href="{ITEMS_URL}/7?f=html">7</a>' in page
    assert f'href="{ITEMS_URL}/a%20b?f=html">a b</a>' in page
    assert f'rel="next" href="{ITEMS_URL}?limit=2&offset=4&f=html"' in page
    assert f'rel="prev" href="{ITEMS_URL}?limit=2&offset=0&f=html"' in page
    assert "POINT (120.15 30.28)" in page
    assert "匹配 matched: 12" in page


def test_collections_page_links_each_collection() -> None:
    page = html.unescape(render_ogc_page("collections", DOCUMENTS["collections"], title="图层"))
    assert f'href="{OGC}/collections/units?f=html">排污单位</a>' in page
    assert f'href="{OGC}/collections/units/items?f=html"' in page
    assert "118, 27, 123, 31.5" in page


def test_item_page_lists_properties() -> None:
    page = render_ogc_page("item", DOCUMENTS["item"], title="排污单位 7")
    assert "<th>county_name</th><td>西湖区</td>" in page
    assert f"<th>name</th><td>{ESCAPED}</td>" in page
    assert f'href="{ITEMS_URL}/7?f=json"' in page  # the JSON version, as linked


def test_link_helpers() -> None:
    assert safe_href(" javascript:alert(1)") is None
    assert safe_href("JavaScript:alert(1)") is None
    assert safe_href("data:text/html,x") is None
    assert safe_href("./items?f=html") == "./items?f=html"
    assert with_html_format("/ogc/c/u/items?f=json&filter=a%20%3D%201") == (
        "/ogc/c/u/items?filter=a+%3D+1&f=html"
    )
    assert geometry_summary(None) == ""
    assert geometry_summary({"type": "LineString", "coordinates": [[1, 2], [3, 4]]}) == (
        "LINESTRING (1 2, … 2 points)"
    )

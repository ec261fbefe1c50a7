"""OGC API – Features documents: landing page, conformance, collections, queryables, item pages.

Collections mirror the layer registry as the audience sees it; feature JSON comes from
`layers.features` as text and is wrapped here without being parsed again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from layers.cql2_filter import CGCS2000, CRS84
from layers.declarations import JSON_SCHEMA_TYPES, Audience, Layer
from layers.features import ItemsPage
from layers.ogc_params import ItemsQuery

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
)


def link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    """One OGC link object."""
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def landing(root: str) -> dict[str, Any]:
    """The landing page of `/ogc`."""
    return {
        "title": "permitmap OGC API – Features",
        "description": (
            "排污许可监管地图：排污单位、排放口、入河排污口、管控分区（OGC API – Features）"
        ),
        "links": [
            link(root, "self", JSON, "this document"),
            link(f"{root}?f=html", "alternate", HTML, "this document as HTML"),
            link(f"{root}/api", "service-desc", OPENAPI_30, "the API definition (OpenAPI 3.0)"),
            link(f"{root}/api?f=html", "service-doc", HTML, "the API documentation"),
            link(f"{root}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{root}/collections", "data", JSON, "the collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    """The conformance classes permitmap implements."""
    return {"conformsTo": list(CONFORMANCE)}


def collection(layer: Layer, root: str, bounds: tuple[float, ...]) -> dict[str, Any]:
    """A collection's description."""
    base = f"{root}/collections/{layer.id}"
    document: dict[str, Any] = {
        "id": layer.id,
        "title": f"{layer.title_zh} {layer.title_en}",
        "description": layer.description or layer.title_en,
        "itemType": "feature",
        "crs": [CRS84, CGCS2000],
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [list(bounds)], "crs": CRS84}},
        "links": [
            link(base, "self", JSON, "this collection"),
            link(f"{base}?f=html", "alternate", HTML, "this collection as HTML"),
            link(f"{base}/items", "items", GEOJSON, "the features"),
            link(f"{base}/items?f=html", "items", HTML, "the features as HTML"),
            link(f"{base}/queryables", QUERYABLES_REL, SCHEMA_JSON,
                 "what the features can be filtered on"),
            link(f"{root.removesuffix('/ogc')}/tiles/{layer.id}.json", "describedby", JSON,
                 "vector tiles of this collection (TileJSON)"),
        ],
    }  # fmt: skip
    if layer.temporal is not None:
        document["extent"]["temporal"] = {"interval": [[None, None]]}
    return document


def collections(entries: list[dict[str, Any]], root: str) -> dict[str, Any]:
    """The list of collections."""
    return {
        "links": [
            link(f"{root}/collections", "self", JSON, "the collections"),
            link(f"{root}/collections?f=html", "alternate", HTML, "the collections as HTML"),
        ],
        "collections": entries,
    }


def queryables_document(layer: Layer, audience: Audience, root: str) -> dict[str, Any]:
    """The JSON Schema of what the audience may filter a collection on."""
    properties: dict[str, Any] = {
        f.name: {**JSON_SCHEMA_TYPES[f.type], "title": f"{f.title_zh} {f.title_en}"}
        for f in layer.fields_for(audience)
    }
    properties["geometry"] = {"$ref": _geometry_schema(layer)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{root}/collections/{layer.id}/queryables",
        "type": "object",
        "title": layer.title_zh,
        "properties": properties,
        "additionalProperties": False,
    }


def items_links(
    page: ItemsPage, query: ItemsQuery, items_url: str, params: dict[str, str]
) -> list[dict[str, str]]:
    """self, alternate, next and prev links of a page of features."""
    links = [
        link(_with(items_url, params, {}), "self", GEOJSON, "this page"),
        link(_with(items_url, params, {"f": "html"}), "alternate", HTML, "this page as HTML"),
        link(items_url.removesuffix("/items") + "/queryables", QUERYABLES_REL, SCHEMA_JSON,
             "what the features can be filtered on"),
    ]  # fmt: skip
    if query.offset + page.number_returned < page.number_matched:
        after = {"offset": str(query.offset + query.limit), "limit": str(query.limit)}
        links.append(link(_with(items_url, params, after), "next", GEOJSON, "next page"))
    if query.offset > 0:
        before = {"offset": str(max(0, query.offset - query.limit)), "limit": str(query.limit)}
        links.append(link(_with(items_url, params, before), "prev", GEOJSON, "previous page"))
    return links


def items_document(page: ItemsPage, links: list[dict[str, str]]) -> str:
    """A FeatureCollection page with its counts and links, as JSON text."""
    envelope = {
        "numberMatched": page.number_matched,
        "numberReturned": page.number_returned,
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    head = json.dumps({"type": "FeatureCollection"}, ensure_ascii=False)[:-1]
    tail = json.dumps(envelope, ensure_ascii=False)[1:]
    return f'{head}, "features": [{",".join(page.features)}], {tail}'


def item_links(item_url: str, items_url: str) -> list[dict[str, str]]:
    """self, alternate and collection links of one feature."""
    return [
        link(item_url, "self", GEOJSON, "this feature"),
        link(f"{item_url}?f=html", "alternate", HTML, "this feature as HTML"),
        link(items_url.removesuffix("/items"), "collection", JSON, "the collection"),
    ]


def item_document(feature: str, links: list[dict[str, str]]) -> str:
    """One feature with its links, as JSON text."""
    return f'{feature[:-1]}, "links": {json.dumps(links, ensure_ascii=False)}}}'


def link_header(links: list[dict[str, str]]) -> str:
    """The links as an RFC 8288 `Link` header (for clients that read links from headers)."""
    return ", ".join(f'<{x["href"]}>; rel="{x["rel"]}"; type="{x["type"]}"' for x in links)


def _with(url: str, params: dict[str, str], changes: dict[str, str]) -> str:
    merged = {**{k: v for k, v in params.items() if k != "f"}, **changes}
    return f"{url}?{urlencode(merged)}" if merged else url


def _geometry_schema(layer: Layer) -> str:
    kind = {"point": "Point", "line": "LineString", "polygon": "MultiPolygon"}[layer.geometry]
    return f"https://geojson.org/schema/{kind}.json"

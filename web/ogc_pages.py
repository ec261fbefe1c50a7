"""HTML pages of the `/ogc` API: the same JSON documents, rendered for a browser.

`render_ogc_page` takes exactly what the API returns for an endpoint and turns it into a plain,
self-contained page (inline CSS, no script, nothing fetched from elsewhere). Documents are read
defensively: a missing optional key shows as nothing rather than an error. Every value goes through
jinja2's autoescaping, and only relative, http and https links become anchors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
HTML = "text/html"
MAX_TEXT = 300  # characters of a long property value shown in a table cell

View = dict[str, Any]


def render_ogc_page(kind: str, document: Mapping[str, Any], *, title: str) -> str:
    """The HTML page for one `/ogc` endpoint.

    `kind` is one of `VIEWS` (landing, conformance, collections, collection, queryables, items,
    item); `document` is the endpoint's JSON document. Raises `ValueError` for an unknown kind
    only: missing or malformed optional parts of the document just show as nothing.
    """
    if kind not in VIEWS:
        raise ValueError(f"unknown OGC page kind {kind!r}")
    doc = document if isinstance(document, Mapping) else {}
    view = VIEWS[kind](doc)
    view.setdefault("home", _html_link(view.get("links", []), "root"))
    return _environment().get_template(f"ogc/{kind}.html").render(title=title, **view)


@cache
def _environment() -> Environment:
    """The jinja2 environment of the OGC templates (made once, on first use)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def safe_href(href: object) -> str | None:
    """`href` if it is a relative, http or https URL (never `javascript:` and the like)."""
    if not isinstance(href, str) or not href.strip():
        return None
    href = href.strip()
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return None
    return href if scheme in ("", "http", "https") else None


def with_html_format(href: str) -> str:
    """`href` with its `f` query parameter set to `html` (a page links to pages)."""
    parts = urlsplit(href)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "f"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("f", "html")])))


def _links(document: Mapping[str, Any]) -> list[View]:
    """The document's links with a usable href, as plain dicts of strings."""
    links = document.get("links")
    result = []
    for link in links if isinstance(links, list) else []:
        href = safe_href(link.get("href")) if isinstance(link, Mapping) else None
        if href is not None:
            keys = ("rel", "type", "title")
            result.append({"href": href} | {k: _text(link.get(k)) for k in keys})
    return result


def _html_link(links: list[View], *rels: str) -> str | None:
    """The page to follow for the first of `rels`: its HTML link, else a link forced to HTML."""
    for rel in rels:
        matching = [link for link in links if link["rel"] == rel]
        for link in matching:
            if link["type"] == HTML:
                return link["href"]
        if matching:
            return with_html_format(matching[0]["href"])
    return None


def _text(value: object) -> str:
    """A value as display text (empty for null; JSON for lists and objects)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _cell(value: object) -> str:
    """A value shortened to fit a table cell."""
    text = _text(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _landing(document: Mapping[str, Any]) -> View:
    """The landing page: description and links."""
    return {"description": _text(document.get("description")), "links": _links(document)}


def _conformance(document: Mapping[str, Any]) -> View:
    """The conformance classes, each a link when it is a URL."""
    classes = document.get("conformsTo")
    uris = [_text(uri) for uri in (classes if isinstance(classes, list) else [])]
    return {"classes": [{"uri": uri, "href": safe_href(uri)} for uri in uris]}


def _collection_row(collection: Mapping[str, Any], base: str | None) -> View:
    """One collection as the collections table and the collection page show it."""
    links = _links(collection)
    cid = _text(collection.get("id"))
    fallback = f"{base}/{quote(cid, safe='')}?f=html" if base else f"collections/{quote(cid)}"
    extent = collection.get("extent")
    spatial = extent.get("spatial") if isinstance(extent, Mapping) else None
    temporal = extent.get("temporal") if isinstance(extent, Mapping) else None
    bbox = spatial.get("bbox") if isinstance(spatial, Mapping) else None
    crs = collection.get("crs")
    return {
        "id": cid,
        "title": _text(collection.get("title")) or cid,
        "description": _text(collection.get("description")),
        "href": _html_link(links, "self") or fallback,
        "items_href": _html_link(links, "items"),
        "bbox": [_bbox_text(box) for box in bbox] if isinstance(bbox, list) else [],
        "intervals": _intervals(temporal),
        "item_type": _text(collection.get("itemType")),
        "crs": [_text(c) for c in crs] if isinstance(crs, list) else [],
        "storage_crs": _text(collection.get("storageCrs")),
        "links": links,
    }


def _bbox_text(box: object) -> str:
    """A bounding box as `w, s, e, n` with at most six decimals."""
    if not isinstance(box, list):
        return _text(box)
    return ", ".join(f"{v:.6g}" if isinstance(v, float) else _text(v) for v in box)


def _intervals(temporal: object) -> list[str]:
    """Temporal extent intervals as `start – end` (`..` for an open end)."""
    intervals = temporal.get("interval") if isinstance(temporal, Mapping) else None
    return [
        " – ".join(_text(t) or ".." for t in interval)
        for interval in (intervals if isinstance(intervals, list) else [])
        if isinstance(interval, list)
    ]


def _strip_query(href: str | None) -> str | None:
    """`href` without its query string and fragment."""
    if href is None:
        return None
    return urlunsplit(urlsplit(href)._replace(query="", fragment="")).rstrip("/")


def _collections(document: Mapping[str, Any]) -> View:
    """The collections table."""
    links = _links(document)
    base = _strip_query(next((lk["href"] for lk in links if lk["rel"] == "self"), None))
    collections = document.get("collections")
    rows = [
        _collection_row(c, base)
        for c in (collections if isinstance(collections, list) else [])
        if isinstance(c, Mapping)
    ]
    return {"links": links, "collections": rows}


def _collection(document: Mapping[str, Any]) -> View:
    """One collection's description."""
    return {"collection": _collection_row(document, None), "links": _links(document)}


def _queryables(document: Mapping[str, Any]) -> View:
    """The queryable properties as rows of name, type, format and title."""
    properties = document.get("properties")
    rows = []
    for name, schema in (properties if isinstance(properties, Mapping) else {}).items():
        spec = schema if isinstance(schema, Mapping) else {}
        keys = ("type", "format", "title", "description")
        rows.append({"name": _text(name)} | {k: _text(spec.get(k)) for k in keys})
    schema_id = safe_href(document.get("$id"))
    return {"rows": rows, "schema_id": schema_id, "links": _links(document)}


def geometry_summary(geometry: object) -> str:
    """A geometry in a few words: WKT-like type and first position (`POINT (120.1 30.2)`)."""
    if not isinstance(geometry, Mapping):
        return ""
    kind = _text(geometry.get("type")).upper()
    coordinates = geometry.get("coordinates")
    count, first = 0, None
    stack = [coordinates]
    while stack:  # depth-first to the first position; counts every position
        item = stack.pop()
        if isinstance(item, list) and item and all(isinstance(v, int | float) for v in item):
            count, first = count + 1, first or item
        elif isinstance(item, list):
            stack.extend(reversed(item))
    if first is None:
        return kind
    position = " ".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in first[:3])
    return f"{kind} ({position})" if count == 1 else f"{kind} ({position}, … {count} points)"


def _feature_href(feature: Mapping[str, Any], items: str | None) -> str | None:
    """The feature's HTML page: from its own links, else `{items}/{id}?f=html`."""
    own = _html_link(_links(feature), "self", "alternate")
    if own is not None or feature.get("id") is None:
        return own
    fid = quote(_text(feature.get("id")), safe="")
    return f"{items}/{fid}?f=html" if items else f"items/{fid}?f=html"


def _features(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The document's features (objects only)."""
    features = document.get("features")
    return [f for f in (features if isinstance(features, list) else []) if isinstance(f, Mapping)]


def _properties(feature: Mapping[str, Any]) -> Mapping[str, Any]:
    """A feature's properties (empty when missing)."""
    properties = feature.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _items(document: Mapping[str, Any]) -> View:
    """A page of features: columns in the first feature's order, paging links, counts."""
    links = _links(document)
    items = _strip_query(next((lk["href"] for lk in links if lk["rel"] == "self"), None))
    features = _features(document)
    columns: list[str] = []
    for feature in features:
        columns += [str(key) for key in _properties(feature) if str(key) not in columns]
    rows = [
        {
            "id": _text(feature.get("id")),
            "href": _feature_href(feature, items),
            "geometry": geometry_summary(feature.get("geometry")),
            "cells": [_cell(_properties(feature).get(column)) for column in columns],
        }
        for feature in features
    ]
    counts = ("numberMatched", "numberReturned", "timeStamp")
    return {
        "columns": columns,
        "rows": rows,
        "links": links,
        "prev": _html_link(links, "prev", "previous"),
        "next": _html_link(links, "next"),
        "collection_href": _html_link(links, "collection"),
    } | {key: _text(document.get(key)) for key in counts}


def _item(document: Mapping[str, Any]) -> View:
    """One feature: its id, geometry, properties as name/value rows and links."""
    links = _links(document)
    properties = [(str(k), _text(v)) for k, v in _properties(document).items()]
    return {
        "id": _text(document.get("id")),
        "geometry": geometry_summary(document.get("geometry")),
        "properties": properties,
        "links": links,
        "collection_href": _html_link(links, "collection"),
    }


VIEWS: dict[str, Callable[[Mapping[str, Any]], View]] = {
    "landing": _landing,
    "conformance": _conformance,
    "collections": _collections,
    "collection": _collection,
    "queryables": _queryables,
    "items": _items,
    "item": _item,
}

"""OGC API – Features under /ogc: Part 1 (core, GeoJSON, HTML, OpenAPI 3.0), Part 2 (CRS),
Part 3 (queryables, CQL2 filters). Collections are the registry's layers as the caller sees them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import AudienceDep
from api.deps import SessionDep
from api.routes.tiles import base_url
from geo.errors import NotFoundError
from layers import ogc
from layers.declarations import Audience, Layer
from layers.features import get_item, query_items
from layers.ogc_openapi import openapi_document
from layers.ogc_params import parse_crs, parse_format, parse_items_query
from layers.registry import layers_for, visible_layer
from web.assets import SWAGGER_UI_CSS, SWAGGER_UI_FAVICON, SWAGGER_UI_JS
from web.ogc_pages import render_ogc_page

router = APIRouter(prefix="/ogc", tags=["OGC API – Features"])
FEATURES_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {ogc.GEOJSON: {}, ogc.HTML: {}}}
}


def _root(request: Request) -> str:
    return base_url(request) + "/ogc"


def _format(request: Request, default: str = "json") -> str:
    return parse_format(request.query_params, request.headers.get("accept", ""), default=default)


def _answer(request: Request, kind: str, document: dict[str, Any], title: str) -> Response:
    """The document as JSON, or as an HTML page when a browser asks for one."""
    if _format(request) == "html":
        return HTMLResponse(render_ogc_page(kind, document, title=title))
    media = ogc.SCHEMA_JSON if kind == "queryables" else ogc.JSON
    return JSONResponse(document, media_type=media)


@router.get("", summary="Landing page")
@router.get("/", include_in_schema=False)
def landing(request: Request) -> Response:
    """Links to the API definition, the conformance classes and the collections."""
    return _answer(request, "landing", ogc.landing(_root(request)), "permitmap OGC API")


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request) -> Response:
    """The OGC conformance classes implemented."""
    return _answer(request, "conformance", ogc.conformance(), "Conformance")


@router.get("/api", summary="API definition (OpenAPI 3.0)")
def api_definition(request: Request, audience: AudienceDep) -> Response:
    """The OpenAPI 3.0 definition of /ogc for this caller (HTML: Swagger UI)."""
    if _format(request) == "html":
        return get_swagger_ui_html(
            openapi_url=f"{_root(request)}/api?f=json",
            title="permitmap OGC API",
            swagger_js_url=SWAGGER_UI_JS,
            swagger_css_url=SWAGGER_UI_CSS,
            swagger_favicon_url=SWAGGER_UI_FAVICON,
        )
    max_limit = request.app.state.settings.layers.items_max_limit
    document = openapi_document(audience, base_url(request), max_limit)
    return JSONResponse(document, media_type=ogc.OPENAPI_30)


@router.get("/collections", summary="Collections")
def collections(request: Request, session: SessionDep, audience: AudienceDep) -> Response:
    """Every collection (layer) the caller may see."""
    root, extents = _root(request), request.app.state.layer_extents
    entries = [
        ogc.collection(layer, root, extents.bounds(session, layer))
        for layer in layers_for(audience)
    ]
    return _answer(request, "collections", ogc.collections(entries, root), "Collections")


@router.get("/collections/{collection_id}", summary="A collection")
def collection(
    collection_id: str, request: Request, session: SessionDep, audience: AudienceDep
) -> Response:
    """One collection's description, extent and links."""
    layer = _layer(collection_id, audience)
    bounds = request.app.state.layer_extents.bounds(session, layer)
    document = ogc.collection(layer, _root(request), bounds)
    return _answer(request, "collection", document, document["title"])


@router.get("/collections/{collection_id}/queryables", summary="Queryables")
def queryables(collection_id: str, request: Request, audience: AudienceDep) -> Response:
    """What the caller may filter the collection's features on (JSON Schema)."""
    layer = _layer(collection_id, audience)
    document = ogc.queryables_document(layer, audience, _root(request))
    return _answer(request, "queryables", document, f"{layer.title_zh} queryables")


@router.get(
    "/collections/{collection_id}/items",
    summary="Features",
    response_class=Response,
    responses=FEATURES_RESPONSES,
)
def items(
    collection_id: str, request: Request, session: SessionDep, audience: AudienceDep
) -> Response:
    """A page of features: bbox, datetime, property equality and CQL2 `filter`; `crs` out."""
    layer = _layer(collection_id, audience)
    settings = request.app.state.settings.layers
    params = dict(request.query_params)
    names = {f.name for f in layer.fields_for(audience)}
    query = parse_items_query(params, property_names=names, max_limit=settings.items_max_limit)
    page = query_items(session, layer, audience, query, timeout_ms=settings.filter_timeout_ms)
    items_url = f"{_root(request)}/collections/{layer.id}/items"
    links = ogc.items_links(page, query, items_url, params)
    text = ogc.items_document(page, links)
    return _features_response(request, "items", text, links, query.crs, layer.title_zh)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="A feature",
    response_class=Response,
    responses=FEATURES_RESPONSES,
)
def item(
    collection_id: str,
    feature_id: str,
    request: Request,
    session: SessionDep,
    audience: AudienceDep,
) -> Response:
    """One feature by id."""
    layer = _layer(collection_id, audience)
    crs = parse_crs(request.query_params.get("crs"), "crs")
    feature = get_item(session, layer, audience, feature_id, crs)
    if feature is None:
        raise NotFoundError(f"collection {layer.id!r} has no feature {feature_id!r}")
    items_url = f"{_root(request)}/collections/{layer.id}/items"
    links = ogc.item_links(f"{items_url}/{quote(feature_id)}", items_url)
    text = ogc.item_document(feature, links)
    title = f"{layer.title_zh} {feature_id}"
    return _features_response(request, "item", text, links, crs, title)


def _features_response(
    request: Request, kind: str, text: str, links: list[dict[str, str]], crs: str, title: str
) -> Response:
    headers = {"Content-Crs": f"<{crs}>", "Link": ogc.link_header(links)}
    if _format(request, default="geojson") == "html":
        return HTMLResponse(render_ogc_page(kind, json.loads(text), title=title), headers=headers)
    return Response(text, media_type=ogc.GEOJSON, headers=headers)


def _layer(collection_id: str, audience: Audience) -> Layer:
    try:
        return visible_layer(collection_id, audience)
    except NotFoundError:
        raise NotFoundError(f"no collection {collection_id!r}; see /ogc/collections") from None

"""Vector tiles and TileJSON of the registry's layers; the layer list with legends."""

from __future__ import annotations

import gzip
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.auth import AudienceDep
from api.deps import SessionDep, SessionFactoryDep
from layers.cache import CachedTile
from layers.declarations import Audience
from layers.metadata import describe_layer, tilejson
from layers.registry import layers_for, visible_layer
from layers.tiles import TileLimits, cached_tile, resolve_tile

router = APIRouter(tags=["layers"])
MVT = "application/vnd.mapbox-vector-tile"


def base_url(request: Request) -> str:
    """The app's external base URL, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def cache_control(audience: Audience) -> str:
    """Public tiles may sit in shared caches; staff tiles only in the browser's."""
    scope = "public" if audience == Audience.PUBLIC else "private"
    return f"{scope}, max-age=60"


@router.get("/api/layers")
def list_layers(request: Request, audience: AudienceDep) -> list[dict[str, Any]]:
    """Every layer the caller may see, with its style, legend, fields and links."""
    return [describe_layer(layer, audience, base_url(request)) for layer in layers_for(audience)]


@router.get("/api/layers/{layer_id}")
def get_layer(layer_id: str, request: Request, audience: AudienceDep) -> dict[str, Any]:
    """One layer's description and legend."""
    return describe_layer(visible_layer(layer_id, audience), audience, base_url(request))


@router.get("/tiles/{layer_id}.json")
def get_tilejson(
    layer_id: str, request: Request, session: SessionDep, audience: AudienceDep
) -> dict[str, Any]:
    """TileJSON 3.0.0 of a layer: tile URL, zooms, bounds and the fields of its features."""
    layer = visible_layer(layer_id, audience)
    bounds = request.app.state.layer_extents.bounds(session, layer)
    return tilejson(layer, audience, base_url(request), bounds)


@router.get(
    "/tiles/{layer_id}/{z}/{x}/{y}.mvt",
    response_class=Response,
    responses={200: {"content": {MVT: {}}, "description": "a Mapbox vector tile"}},
)
async def get_tile(
    layer_id: str,
    z: int,
    x: int,
    y: int,
    request: Request,
    sessions: SessionFactoryDep,
    audience: AudienceDep,
    filter: Annotated[
        str | None,
        Query(
            description="CQL2 text over the layer's fields (as for OGC items), e.g. "
            "category = 'key' AND county_code = '500101'"
        ),
    ] = None,
) -> Response:
    """A vector tile (EPSG:3857, extent 4096); dense point layers come as clusters (counted
    over the features the optional `filter` keeps)."""
    tile_request = resolve_tile(layer_id, z, x, y, audience, filter)
    limits = TileLimits.from_settings(request.app.state.settings.layers)
    cache = request.app.state.tile_cache

    def look_up_or_render() -> CachedTile:  # one worker thread for all the database work
        with sessions() as session:
            return cached_tile(session, tile_request, limits, cache)

    tile = await run_in_threadpool(look_up_or_render)
    headers = {
        "ETag": tile.etag,
        "Cache-Control": cache_control(audience),
        "Vary": "Accept-Encoding, Authorization",
    }
    if request.headers.get("if-none-match") == tile.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(tile.gzipped, media_type=MVT, headers=headers)
    return Response(gzip.decompress(tile.gzipped), media_type=MVT, headers=headers)

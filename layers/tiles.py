"""Mapbox vector tiles (EPSG:3857 XYZ) of a registry layer, rendered by PostGIS's ST_AsMVT.

Point layers declared `aggregate` never put more than `max_features` points in a tile: denser
tiles carry clusters (count and counts per style class) instead. Other layers carry every
feature, simplified to the tile's resolution and clipped to it. Rendered tiles are cached in
process under the data version they came from.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from geo.errors import NotFoundError
from geo.settings import LayerSettings
from layers.cache import CachedTile, TileCache
from layers.cells import (
    CELL_MAX_ZOOM,
    HALF_WORLD_M,
    CellGrid,
    ensure_cells,
    live_cells_mvt,
    points_in_tile,
    stored_cells_mvt,
)
from layers.declarations import Audience, Layer
from layers.registry import LAYERS, visible_layer
from layers.sources import (
    data_version,
    fetch_row,
    fixed_conditions,
    quoted,
    select_list,
    where_sql,
)
from layers.tile_filter import TileFilter, compile_tile_filter, filter_statement_errors

MAX_ZOOM = 24
EXTENT = 4096
BUFFER = 64


@dataclass(frozen=True)
class TileRequest:
    """Which tile of which layer, for whom."""

    layer: Layer
    z: int
    x: int
    y: int
    audience: Audience
    filter: TileFilter | None = None


@dataclass(frozen=True)
class TileLimits:
    """Caps from settings: features per tile, the cluster grid, a filtered tile's time."""

    max_features: int
    grid: int
    filter_timeout_ms: int = 5000

    @classmethod
    def from_settings(cls, settings: LayerSettings) -> TileLimits:
        """The limits the settings configure."""
        return cls(
            settings.tile_max_features, settings.tile_cluster_grid, settings.filter_timeout_ms
        )


def resolve_tile(
    layer_id: str, z: int, x: int, y: int, audience: Audience, filter_text: str | None = None
) -> TileRequest:
    """Check the layer, the audience, the tile address and the filter; raise NotFound,
    Forbidden or QueryError if wrong."""
    layer = visible_layer(layer_id, audience)
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFoundError(f"tile {z}/{x}/{y} does not exist (zoom 0–{MAX_ZOOM}, x and y < 2^z)")
    if not layer.minzoom <= z <= layer.maxzoom:
        raise NotFoundError(
            f"layer {layer_id!r} is drawn from zoom {layer.minzoom} to {layer.maxzoom}"
        )
    return TileRequest(layer, z, x, y, audience, compile_tile_filter(layer, audience, filter_text))


def cached_tile(
    session: Session, request: TileRequest, limits: TileLimits, cache: TileCache
) -> CachedTile:
    """The tile from the cache when its data has not changed, else rendered and cached."""
    version = data_version(session, request.layer, request.audience)
    filter_key = request.filter.key if request.filter else ""
    key = (request.layer.id, request.audience, request.z, request.x, request.y, version, filter_key)
    tile = cache.get(key)
    if tile is None:
        raw = render_tile(session, request, limits, version)
        tile = CachedTile(
            gzipped=gzip.compress(raw, compresslevel=1),
            etag='"' + hashlib.blake2b(raw + version.encode(), digest_size=12).hexdigest() + '"',
        )
        cache.put(key, tile)
    return tile


def render_tile(session: Session, request: TileRequest, limits: TileLimits, version: str) -> bytes:
    """Render the tile with PostGIS (uncached)."""
    layer, z, x, y = request.layer, request.z, request.x, request.y
    if request.filter is not None:
        return _filtered_tile(session, request, limits)
    if not layer.clustered:
        return _features_mvt(session, request, limits.max_features)
    grid = CellGrid(layer, layer.style_for(request.audience), limits.grid)
    if z <= CELL_MAX_ZOOM:
        if points_in_tile(session, grid, version, z, x, y) > limits.max_features:
            return stored_cells_mvt(session, grid, z, x, y)
    elif _raw_points_in_tile(session, request, limits.max_features + 1) > limits.max_features:
        return live_cells_mvt(session, grid, z, x, y)
    return _features_mvt(session, request, limits.max_features)


def _filtered_tile(session: Session, request: TileRequest, limits: TileLimits) -> bytes:
    """A tile of the points matching a client's filter: clustered from them when too dense."""
    layer, timeout_ms = request.layer, limits.filter_timeout_ms
    timeout = "SELECT set_config('statement_timeout', :ms, true)"
    fetch_row(session, timeout, {"ms": str(timeout_ms)})
    with filter_statement_errors(timeout_ms):
        if layer.clustered:
            hits = _raw_points_in_tile(session, request, limits.max_features + 1)
            if hits > limits.max_features:
                grid = CellGrid(layer, layer.style_for(request.audience), limits.grid)
                z, x, y = request.z, request.x, request.y
                return live_cells_mvt(session, grid, z, x, y, request.filter)
        return _features_mvt(session, request, limits.max_features)


def refresh_clusters(session: Session, grid: int) -> list[str]:
    """Bring every clustered layer's stored cells up to date, for both audiences' styles.

    Tile requests do this on demand; running it after a bulk load moves the cost off the first
    map view. Returns the keys of the grids checked.
    """
    refreshed: list[str] = []
    for layer in LAYERS.values():
        if not layer.clustered:
            continue
        for audience in Audience:
            cell_grid = CellGrid(layer, layer.style_for(audience), grid)
            if cell_grid.key not in refreshed:  # a style both audiences share: one grid
                ensure_cells(session, cell_grid, data_version(session, layer, audience))
                refreshed.append(cell_grid.key)
    return refreshed


def warm_up(session: Session, limits: TileLimits) -> None:
    """Run each layer's tile queries once on an empty tile (per audience): the database then has
    the relations, plans and functions they touch loaded on this connection. Reads only; the
    stored clusters are read, never rebuilt."""
    for layer in LAYERS.values():
        for audience in filter(layer.visible_to, Audience):
            data_version(session, layer, audience)
            corner = TileRequest(layer, max(layer.minzoom, 20), 0, 0, audience)
            if layer.clustered:
                grid = CellGrid(layer, layer.style_for(audience), limits.grid)
                stored_cells_mvt(session, grid, CELL_MAX_ZOOM, 0, 0)
                live_cells_mvt(session, grid, CELL_MAX_ZOOM + 1, 0, 0)
                _raw_points_in_tile(session, corner, limits.max_features + 1)
            _features_mvt(session, corner, limits.max_features)


def _raw_points_in_tile(session: Session, request: TileRequest, at_most: int) -> int:
    layer = request.layer
    conditions = [*fixed_conditions(layer), _inside_tile(layer), *_filter_sql(request)]
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {quoted(layer.source)} {where_sql(conditions)}"
    params = {"z": request.z, "x": request.x, "y": request.y, "at_most": at_most}
    params |= _filter_params(request)
    return fetch_row(session, sql + " LIMIT :at_most) AS hits", params)[0]


def _features_mvt(session: Session, request: TileRequest, max_features: int) -> bytes:
    layer = request.layer
    geom = quoted(layer.geom_column)
    projected = f"ST_Transform({geom}, 3857)"
    if layer.geometry != "point":
        projected = f"ST_Simplify({projected}, :tolerance, true)"
    id_field = layer.field(layer.id_field)
    feature_id = ", 'fid'" if id_field.type == "integer" else ""
    fid_column = f", {id_field.expression} AS fid" if feature_id else ""
    conditions = [*fixed_conditions(layer), _inside_tile(layer), *_filter_sql(request)]
    fields = layer.tile_fields_for(request.audience)
    sql = f"""
        SELECT ST_AsMVT(t, :name, {EXTENT}, 'geom'{feature_id}) FROM (
          SELECT ST_AsMVTGeom({projected}, ST_TileEnvelope(:z, :x, :y), {EXTENT}, {BUFFER}, true)
                   AS geom{fid_column}, {select_list(fields)}
          FROM {quoted(layer.source)} {where_sql(conditions)}
          LIMIT :max_features
        ) AS t WHERE geom IS NOT NULL
    """
    params = {
        "name": layer.id,
        "z": request.z,
        "x": request.x,
        "y": request.y,
        "max_features": max_features,
        "tolerance": 2 * HALF_WORLD_M / (2**request.z) / EXTENT,
        **_filter_params(request),
    }
    return bytes(fetch_row(session, sql, params)[0] or b"")


def _filter_sql(request: TileRequest) -> list[str]:
    return [request.filter.sql] if request.filter else []


def _filter_params(request: TileRequest) -> dict[str, object]:
    return request.filter.params if request.filter else {}


def _inside_tile(layer: Layer) -> str:
    """Rows whose geometry touches the tile (with the render buffer), via the GiST index."""
    return (
        f"{quoted(layer.geom_column)} && ST_Transform(ST_TileEnvelope(:z, :x, :y,"
        f" margin => {BUFFER / EXTENT}), 4326)"
    )

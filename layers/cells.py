"""Clusters for dense point layers: counts per grid cell, per zoom, per style class.

A tile is divided into `grid` × `grid` cells; a cell at zoom z splits into four at z + 1, so cell
indices at z are those at z + 1 halved. Counts for zooms 0…CELL_MAX_ZOOM are pre-aggregated in
`layer_cells` (built from the layer's rows at CELL_MAX_ZOOM and rolled up), rebuilt when the data
version they were built for is no longer current. Above CELL_MAX_ZOOM a dense tile is aggregated
on the fly from its own points. Each cluster sits at the mean position of its members.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from layers.declarations import Layer, Style
from layers.sources import class_expression, fetch_row, fixed_conditions, quoted, where_sql
from layers.tile_filter import TileFilter

CELL_MAX_ZOOM = 12
EARTH_RADIUS_M = 6378137.0  # the sphere of EPSG:3857
HALF_WORLD_M = 20037508.342789244  # half the EPSG:3857 world width (π × radius)


@dataclass(frozen=True)
class CellGrid:
    """The clustering grid of one layer as one audience sees it."""

    layer: Layer
    style: Style
    grid: int

    @property
    def key(self) -> str:
        """Name of this grid's rows in `layer_cells`: it changes with anything that shapes them
        (a new style class, another source), so a deployment never reads cells built otherwise."""
        shape = repr((self.class_values(), self.layer.cluster_source, self.layer.where))
        digest = zlib.crc32(shape.encode())
        return f"{self.layer.id}:{self.style.by or '-'}:{self.grid}:{digest:08x}"

    def scale(self, z: int) -> float:
        """Cells per metre of Web Mercator at zoom z."""
        return (2**z) * self.grid / (2 * HALF_WORLD_M)

    def class_values(self) -> list[str]:
        """The style's class values, in the order of `layer_cells.counts`."""
        return [c.value for c in self.style.classes]


def cell_points_sql(
    grid: CellGrid, z: int, extra_conditions: tuple[str, ...] = (), source: str | None = None
) -> str:
    """SELECT of the layer's points with their cell index at zoom z, class and 3857 position.

    Web Mercator is computed with the spherical formulas rather than ST_Transform: the same
    numbers, several times cheaper over a million points.
    """
    layer = grid.layer
    conditions = [*fixed_conditions(layer), *extra_conditions]
    scale = grid.scale(z)
    last = 2**z * grid.grid - 1
    geom = quoted(layer.geom_column)
    return f"""
        SELECT least(greatest(floor((x + {HALF_WORLD_M}) * {scale!r})::int, 0), {last}) AS cx,
               least(greatest(floor(({HALF_WORLD_M} - y) * {scale!r})::int, 0), {last}) AS cy,
               x, y, cls
        FROM (SELECT ST_X({geom}) * {HALF_WORLD_M / 180!r} AS x,
                     ln(tan(radians(45 + ST_Y({geom}) / 2))) * {EARTH_RADIUS_M!r} AS y,
                     {class_expression(layer, grid.style)} AS cls
              FROM {quoted(source or layer.cluster_source or layer.source)} {where_sql(conditions)}
             ) AS projected
    """


def class_counts_sql(grid: CellGrid, count: str) -> str:
    """Per-class counts as SELECT items named n_<class>; `count` is the aggregate to filter."""
    return ", ".join(
        f"{count} FILTER (WHERE cls = :class_{i}) AS {quoted('n_' + value)}"
        for i, value in enumerate(grid.class_values())
    )


def class_params(grid: CellGrid) -> dict[str, str]:
    """Bound values of the class filters."""
    return {f"class_{i}": value for i, value in enumerate(grid.class_values())}


def ensure_cells(session: Session, grid: CellGrid, version: str) -> None:
    """Make `layer_cells` current for this grid: rebuild it when built for another version."""
    state = text("SELECT built_for FROM layer_cells_state WHERE layer = :key")
    if session.execute(state, {"key": grid.key}).scalar_one_or_none() == version:
        return
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": grid.key})
    if session.execute(state, {"key": grid.key}).scalar_one_or_none() == version:
        return  # another request rebuilt it while this one waited for the lock
    rebuild_cells(session, grid)
    session.execute(
        text(
            "INSERT INTO layer_cells_state (layer, built_for, built_at) VALUES (:key, :v, now())"
            " ON CONFLICT (layer) DO UPDATE SET built_for = :v, built_at = now()"
        ),
        {"key": grid.key, "v": version},
    )


def rebuild_cells(session: Session, grid: CellGrid) -> None:
    """Aggregate the layer's points at CELL_MAX_ZOOM and roll the counts up to zoom 0."""
    prefix = grid.key.rsplit(":", 1)[0] + ":"  # this grid, however it was shaped before
    for table in ("layer_cells", "layer_cells_state"):
        session.execute(
            text(f"DELETE FROM {table} WHERE left(layer, length(:prefix)) = :prefix"),
            {"prefix": prefix},
        )
    arrays = ", ".join(
        f"count(*) FILTER (WHERE cls = :class_{i})" for i in range(len(grid.class_values()))
    )
    session.execute(
        text(f"""
            INSERT INTO layer_cells (layer, z, cx, cy, n, sx, sy, counts)
            SELECT :key, {CELL_MAX_ZOOM}, cx, cy, count(*), sum(x), sum(y),
                   ARRAY[{arrays}]::int[]
            FROM ({cell_points_sql(grid, CELL_MAX_ZOOM)}) AS points
            GROUP BY cx, cy
        """),
        {"key": grid.key, **class_params(grid)},
    )
    sums = ", ".join(f"sum(counts[{i + 1}])" for i in range(len(grid.class_values())))
    for z in range(CELL_MAX_ZOOM - 1, -1, -1):
        session.execute(
            text(f"""
                INSERT INTO layer_cells (layer, z, cx, cy, n, sx, sy, counts)
                SELECT layer, :z, cx / 2, cy / 2, sum(n), sum(sx), sum(sy), ARRAY[{sums}]::int[]
                FROM layer_cells WHERE layer = :key AND z = :z + 1
                GROUP BY layer, cx / 2, cy / 2
            """),
            {"key": grid.key, "z": z},
        )


def points_in_tile(session: Session, grid: CellGrid, version: str, z: int, x: int, y: int) -> int:
    """How many points tile z/x/y holds, from cells brought up to `version` first if stale.

    One round trip when the cells are current (the usual case): the state and the count together.
    """
    built_for, count = fetch_row(
        session,
        "SELECT (SELECT built_for FROM layer_cells_state WHERE layer = :key),"
        f" (SELECT coalesce(sum(n), 0) FROM layer_cells WHERE {_tile_cells_condition()})",
        _tile_cells_params(grid, z, x, y),
    )
    if built_for == version:
        return count
    ensure_cells(session, grid, version)
    return points_in_tile(session, grid, version, z, x, y)


def stored_cells_mvt(session: Session, grid: CellGrid, z: int, x: int, y: int) -> bytes:
    """The tile as clusters from the pre-aggregated cells."""
    counts = ", ".join(
        f"counts[{i + 1}] AS {quoted('n_' + value)}" for i, value in enumerate(grid.class_values())
    )
    sql = f"""
        SELECT ST_AsMVT(c, :name, 4096, 'geom') FROM (
          SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(sx / n, sy / n), 3857),
                              ST_TileEnvelope(:z, :x, :y), 4096, 0, true) AS geom,
                 n AS count, true AS cluster{", " + counts if counts else ""}
          FROM layer_cells WHERE {_tile_cells_condition()}
        ) AS c
    """
    params = {"name": grid.layer.id, **_tile_cells_params(grid, z, x, y)}
    return bytes(fetch_row(session, sql, params)[0] or b"")


def live_cells_mvt(
    session: Session, grid: CellGrid, z: int, x: int, y: int, only: TileFilter | None = None
) -> bytes:
    """The tile as clusters aggregated now from the points inside it (zooms above the store,
    or the points a client's filter keeps, read from the layer's full source it filters on)."""
    inside = f"{quoted(grid.layer.geom_column)} && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)"
    conditions = (inside, only.sql) if only else (inside,)
    source = grid.layer.source if only else None
    counts = class_counts_sql(grid, "count(*)")
    sql = f"""
        SELECT ST_AsMVT(c, :name, 4096, 'geom') FROM (
          SELECT ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(avg(x), avg(y)), 3857),
                              ST_TileEnvelope(:z, :x, :y), 4096, 0, true) AS geom,
                 count(*) AS count, true AS cluster{", " + counts if counts else ""}
          FROM ({cell_points_sql(grid, z, conditions, source)}) AS points
          GROUP BY cx, cy
        ) AS c
    """
    params = {"name": grid.layer.id, "z": z, "x": x, "y": y, **class_params(grid)}
    params |= only.params if only else {}
    return bytes(fetch_row(session, sql, params)[0] or b"")


def _tile_cells_condition() -> str:
    return "layer = :key AND z = :z AND cx BETWEEN :x0 AND :x1 AND cy BETWEEN :y0 AND :y1"


def _tile_cells_params(grid: CellGrid, z: int, x: int, y: int) -> dict[str, object]:
    g = grid.grid
    return {
        "key": grid.key,
        "z": z,
        "x": x,
        "y": y,
        "x0": x * g,
        "x1": x * g + g - 1,
        "y0": y * g,
        "y1": y * g + g - 1,
    }

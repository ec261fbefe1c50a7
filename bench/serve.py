"""Benchmark: the demo's units served as vector tiles and OGC API Features, permitmap beside tipg.

`python -m bench.serve --units 1000000` (what `make bench-serve` runs). One scratch database,
`permitmap_bench_serve`, on the app's server (DATABASE_URL, else the embedded cluster), is served
in turn by `permitmap serve` and by tipg (installed into .bench/tipg-venv on first use), each a
fresh process on loopback. One client, 8 keep-alive HTTP/1.1 connections, sends both the same
tiles (z6, z9, z12) twice (cold, warm) and the same feature queries, with `Accept-Encoding: gzip`.
See bench/README.md.
"""

# This module prepares the data and the workload and runs the phases; the client is
# bench.http_load, the servers bench.servers, the report bench.serve_report.

from __future__ import annotations

import argparse
import math
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.http_load import CONCURRENCY, Phase, Target, run_phase, status_of
from bench.load import admin, holds, scratch_url, sql, timed
from bench.serve_report import Result, report
from bench.servers import PERMITMAP, Server, ensure_tipg, permitmap_server, running, tipg_server
from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from geo.db import make_engine
from geo.migrate import upgrade
from geo.screening import screen

SCRATCH_DB = "permitmap_bench_serve"
DROP_SCRATCH = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SALT = "bench-serve"  # orders the seeded sample of units behind the tiles and queries
SAMPLED_TILES = {9: 40, 12: 200}  # z6: every tile over the province
BBOX_QUERIES, ITEM_QUERIES, WARMUP_QUERIES = 100, 1000, 32
BBOX_HALF_DEG = 0.02  # a bbox of 0.04° × 0.04° around a sampled unit
LIMIT = 1000
Tile = tuple[int, int, int]
TILES_SQL = text(  # the WebMercatorQuad tiles (x, y) at zoom :z holding units, :n of them
    "SELECT x, y FROM (SELECT DISTINCT floor((ST_X(geom) + 180) / 360 * 2 ^ :z)::int AS x, "
    "floor((1 - asinh(tan(radians(ST_Y(geom)))) / pi()) / 2 * 2 ^ :z)::int AS y FROM units) t "
    "ORDER BY hashtext(x || '/' || y || :salt), x, y LIMIT :n"
)


@dataclass(frozen=True)
class Workload:
    """What both servers are asked, in the same order."""

    tiles: dict[int, list[Tile]]
    bboxes: list[str]
    ids: list[int]
    warmup_ids: list[int]


def prepare(url: str, units: int, *, reuse: bool) -> Engine:
    """The scratch database with the demo of `units` units, migrated to head and screened."""
    if reuse and holds(url, SCRATCH_DB, units):
        print(f"reusing database {SCRATCH_DB} ({units:,} units)")
        engine = make_engine(url)
        upgrade(engine)
    else:
        admin(url, DROP_SCRATCH, f"CREATE DATABASE {SCRATCH_DB}")
        engine = make_engine(url)
        upgrade(engine)
        options = DemoOptions(units=units, as_of=AS_OF)
        seconds = timed(lambda: write_demo(engine, build_demo(options)))[1]
        admin(url, "VACUUM ANALYZE", database=SCRATCH_DB)
        print(f"built database {SCRATCH_DB}: {units:,} units in {seconds:.0f} s")
    if not sql(engine, "SELECT EXISTS (SELECT FROM screening_runs)"):
        with Session(engine) as session:
            summary, seconds = timed(lambda: screen(session, now=NOW))
            session.commit()
        print(f"screened: {summary.detected:,} flags in {seconds:.1f} s")
    return engine


def refresh_layers(url: str) -> None:
    """`permitmap layers refresh` on the scratch database, when the command exists."""
    command = [str(PERMITMAP), "layers", "refresh"]
    env = {**os.environ, "DATABASE_URL": url}
    helped = subprocess.run([*command, "--help"], env=env, capture_output=True, check=False)
    if helped.returncode != 0:
        print("permitmap layers refresh: no such command yet, skipped")
        return
    seconds = timed(lambda: subprocess.run(command, env=env, check=True))[1]
    print(f"permitmap layers refresh: {seconds:.1f} s")


def tile_of(lon: float, lat: float, z: int) -> Tile:
    """The WebMercatorQuad tile (z, x, y) holding a WGS 84 point."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def workload(engine: Engine) -> Workload:
    """z6: every tile over the province's extent; z9, z12: a seeded sample of the tiles holding
    units, each such tile equally likely; bboxes and ids: around and of a seeded sample of units."""
    with engine.connect() as conn:
        extent = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM admin_regions) s"
            )
        ).one()
        tiles: dict[int, list[Tile]] = {}
        for z, n in SAMPLED_TILES.items():
            found = conn.execute(TILES_SQL, {"z": z, "n": n, "salt": SALT})
            tiles[z] = [(z, x, y) for x, y in found]
        rows = conn.execute(
            text(
                "SELECT id, ST_X(geom), ST_Y(geom) FROM units "
                "ORDER BY hashtext(id::text || :salt), id LIMIT :n"
            ),
            {"salt": SALT, "n": ITEM_QUERIES + WARMUP_QUERIES},
        ).all()
    _, x0, y0 = tile_of(extent[0], extent[3], 6)
    _, x1, y1 = tile_of(extent[2], extent[1], 6)
    tiles = {6: [(6, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]} | tiles
    h = BBOX_HALF_DEG
    bboxes = [f"{x - h:.5f},{y - h:.5f},{x + h:.5f},{y + h:.5f}" for _, x, y in rows]
    ids = [row[0] for row in rows]
    return Workload(tiles, bboxes[:BBOX_QUERIES], ids[:ITEM_QUERIES], ids[-WARMUP_QUERIES:])


def prewarm(engine: Engine) -> None:
    """Load the units table, permitmap's layer tables (`layer_*`), materialised views and their
    indexes into shared buffers, so that both servers start from the same database cache."""
    sql(
        engine,
        "CREATE EXTENSION IF NOT EXISTS pg_prewarm",
        "WITH t AS (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND "
        "(relkind = 'm' OR relname = 'units' OR relkind = 'r' AND relname LIKE 'layer\\_%')) "
        "SELECT sum(pg_prewarm(oid)) FROM (SELECT oid FROM t UNION "
        "SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM t)) r",
    )


def tile_pass(target: Target, server: Server, work: Workload, keep: bool) -> dict[int, Phase]:
    """One pass over the tile list, a phase per zoom."""
    return {
        z: run_phase(target, [server.tile.format(z=z, x=x, y=y) for z, x, y in tiles], keep=keep)
        for z, tiles in work.tiles.items()
    }


def bench_server(server: Server, work: Workload, engine: Engine) -> Result:
    """A fresh process: warm-up (untimed), tile pass 1 (cold), pass 2 (warm), bbox, items."""
    prewarm(engine)
    result, port = Result(), server.port
    with running(server) as pid:
        target = Target(port, pid, SCRATCH_DB)
        (tiles, tiles_s), (items, items_s) = (
            timed(lambda path=path: status_of(port, path))
            for path in (server.probe, server.item.format(id=work.warmup_ids[0]))
        )
        print(f"{server.name}: GET {server.probe} {tiles} ({tiles_s:.2f} s), ", end="")
        print(f"GET {server.item} {items} ({items_s:.2f} s)")
        has_tiles, has_items = tiles == 200, items == 200
        for found, what in ((has_tiles, "tiles"), (has_items, "features")):
            if not found:
                print(f"{server.name}: no {what} endpoint (not 200): {what} not measured")
        if has_items:  # opens the database pool's connections; touches no tile
            run_phase(target, [server.item.format(id=i) for i in work.warmup_ids])
        if has_tiles:
            result.passes = [tile_pass(target, server, work, keep) for keep in (True, False)]
        if has_items:
            bboxes = [f"{server.items}?bbox={b}&limit={LIMIT}" for b in work.bboxes]
            result.bbox = run_phase(target, bboxes, keep=True)
            result.item = run_phase(target, [server.item.format(id=i) for i in work.ids])
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("--units", type=int, default=1_000_000, help="units (default 1,000,000)")
    parser.add_argument(
        "--reuse", action="store_true", help=f"reuse {SCRATCH_DB} if it holds --units; keep it"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep database {SCRATCH_DB}")
    parser.add_argument("--port-base", type=int, default=8810, help="permitmap's; tipg's is +1")
    parser.add_argument("--skip-tipg", action="store_true", help="serve with permitmap only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; the last stdout line is the JSON result."""
    args = parse_args(argv)
    url = scratch_url(SCRATCH_DB)
    engine = prepare(url, args.units, reuse=args.reuse)
    results: dict[str, Result] = {}
    try:
        refresh_layers(url)
        work = workload(engine)
        sizes = ", ".join(f"z{z} {len(t)}" for z, t in work.tiles.items())
        print(f"tiles: {sizes}; {len(work.bboxes)} bbox queries (limit={LIMIT}), ", end="")
        print(f"{len(work.ids)} items by id; {CONCURRENCY} keep-alive connections, loopback")
        print("every request sends 'Accept-Encoding: gzip' (as browsers do), to both servers")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        if not args.skip_tipg:
            ensure_tipg()
            results["tipg"] = bench_server(tipg_server(url, args.port_base + 1), work, engine)
        results["permitmap"] = bench_server(permitmap_server(url, args.port_base), work, engine)
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            admin(url, DROP_SCRATCH)
    report(results)


if __name__ == "__main__":
    main()

"""Benchmark: screen the demo province, beside a hand-written PostGIS join and geopandas.

`python -m bench.screen --units 1000000` (what `make bench-screen` runs). Uses the app's server
(DATABASE_URL, else the embedded cluster) but only the scratch database `permitmap_bench_screen`,
which it recreates, migrates and loads (untimed), and drops at the end unless `--keep`.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import UTC, date, datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.load import admin, scratch_url, sql, timed
from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from geo.db import make_engine
from geo.migrate import upgrade
from geo.screening import RunSummary, screen

SCRATCH_DB = "permitmap_bench_screen"
DROP_SCRATCH = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TARGET_VS_BARE = 1.5  # the issue: full screening within 1.5x the best bare join
TARGET_VS_GEOPANDAS = 3.0  # and at least 3x faster than geopandas end to end
FEATURES = {"unit": "units", "outlet": "outlets", "river_outfall": "river_outfalls"}
PROTECTION = ("water_protection", "nature_reserve", "ecological_redline")
KINDS = ", ".join(f"'{kind}'" for kind in ("control_unit", *PROTECTION))


def bare_join_sql(workers: int) -> list[str]:
    """The best bare join by hand: units → every current zone (their control unit and the
    protection zones), outlets and outfalls → protection zones; one row per (feature, zone), into
    an unlogged table. ST_Subdivide'd zone parts drive and probe the points' GiST indexes; the
    parts table may be scanned by `workers` parallel workers (CREATE TABLE AS may run in parallel,
    INSERT may not)."""
    branches = [
        f"SELECT '{kind}' AS feature_type, f.id AS feature_id, p.zone_id FROM bare_parts p "
        f"JOIN {table} f ON ST_Intersects(p.geom, f.geom)"
        + ("" if kind == "unit" else " WHERE NOT p.cu")
        + " GROUP BY f.id, p.zone_id"
        for kind, table in FEATURES.items()
    ]
    return [
        f"CREATE UNLOGGED TABLE bare_parts WITH (parallel_workers = {workers}) AS SELECT id AS "
        "zone_id, kind = 'control_unit' AS cu, ST_Subdivide(geom, 128) AS geom FROM current_zones "
        f"WHERE kind IN ({KINDS})",
        "CREATE INDEX ON bare_parts USING gist (geom)",
        "ANALYZE bare_parts",
        "CREATE UNLOGGED TABLE bare_hits AS " + " UNION ALL ".join(branches),
    ]


def prepare(url: str, units: int) -> Engine:
    """Recreate, migrate and load the scratch database, then VACUUM ANALYZE it (all untimed)."""
    admin(url, DROP_SCRATCH, f"CREATE DATABASE {SCRATCH_DB}")
    engine = make_engine(url)
    upgrade(engine)
    write_demo(engine, build_demo(DemoOptions(units=units, as_of=AS_OF)))
    for table in ("flags", "flag_events", "screening_runs"):  # no autovacuum mid-run
        sql(engine, f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    admin(url, "VACUUM ANALYZE", database=SCRATCH_DB)
    return engine


def run_permitmap(engine: Engine, *, empty: bool) -> tuple[RunSummary, float]:
    """One full screening run in its own transaction, committed; its summary and seconds.
    With `empty`, the flags and their events are truncated first (untimed)."""
    if empty:
        sql(engine, "TRUNCATE flag_events, flags")

    def run() -> RunSummary:
        with Session(engine) as session:
            summary = screen(session, now=NOW)
            session.commit()
            return summary

    return timed(run)


def run_bare(engine: Engine) -> tuple[int, float]:
    """The hand-written join, all its statements in one transaction; hits and seconds."""
    workers = int(sql(engine, "SHOW max_parallel_workers_per_gather"))  # type: ignore[arg-type]
    seconds = timed(lambda: sql(engine, *bare_join_sql(workers)))[1]
    hits = int(sql(engine, "SELECT count(*) FROM bare_hits"))  # type: ignore[arg-type]
    sql(engine, "DROP TABLE bare_parts, bare_hits")
    return hits, seconds


def run_geopandas(engine: Engine) -> tuple[int, float, float]:
    """read_postgis, sjoin, to_postgis of the hits; hits, end-to-end seconds, sjoin seconds."""
    sjoin_s = 0.0

    def job() -> int:
        nonlocal sjoin_s
        query = f"SELECT id AS zone_id, kind, geom FROM current_zones WHERE kind IN ({KINDS})"
        zones = gpd.read_postgis(query, engine, geom_col="geom")
        protection = zones[zones["kind"] != "control_unit"]
        hits = []
        for kind, table in FEATURES.items():
            points = gpd.read_postgis(f"SELECT id, geom FROM {table}", engine, geom_col="geom")
            right = (zones if kind == "unit" else protection)[["zone_id", "geom"]]
            joined, seconds = timed(
                lambda p=points, r=right: gpd.sjoin(p, r, predicate="intersects")
            )
            sjoin_s += seconds
            columns = {
                "feature_type": kind,
                "feature_id": joined["id"],
                "zone_id": joined["zone_id"],
            }
            hits.append(gpd.GeoDataFrame(columns, geometry=joined.geometry))
        frame = gpd.GeoDataFrame(pd.concat(hits, ignore_index=True), crs=4326)
        frame.to_postgis(
            "geopandas_hits", engine, if_exists="replace", index=False, chunksize=50_000
        )
        return len(frame)

    hits, seconds = timed(job)
    assert sql(engine, "SELECT count(*) FROM geopandas_hits") == hits, "geopandas row count"
    sql(engine, "DROP TABLE geopandas_hits")
    return hits, seconds, sjoin_s


def verdict(ratio: float, target: float, *, at_most: bool) -> str:
    """The ratio against its target, e.g. '1.12 (target <= 1.5: met)'."""
    met = ratio <= target if at_most else ratio >= target
    return (
        f"{ratio:.2f} (target {'<=' if at_most else '>='} {target}: {'met' if met else 'NOT met'})"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.screen", description=__doc__)
    parser.add_argument("--units", type=int, default=1_000_000, help="units (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of permitmap and bare join")
    parser.add_argument("--keep", action="store_true", help=f"keep database {SCRATCH_DB}")
    parser.add_argument("--skip-geopandas", action="store_true", help="skip the geopandas peer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; the last stdout line is the JSON result."""
    args = parse_args(argv)
    url = scratch_url(SCRATCH_DB)
    engine = prepare(url, args.units)
    try:
        counts = {k: sql(engine, f"SELECT count(*) FROM {t}") for k, t in FEATURES.items()}
        print(", ".join(f"{n:,} {k}s" for k, n in counts.items()), end="; ")
        print(f"{sql(engine, 'SELECT count(*) FROM current_zones')} current zones")
        permitmap, bare = [], []
        for _ in range(args.repeat):  # interleaved, so a slow spell hits both
            summary, seconds = run_permitmap(engine, empty=True)
            permitmap.append(seconds)
            bare_hits, seconds = run_bare(engine)
            bare.append(seconds)
        again, rerun_s = run_permitmap(engine, empty=False)
        permitmap_s, bare_s = statistics.median(permitmap), statistics.median(bare)
        runs = ", ".join(f"{s:.2f}" for s in permitmap)
        print(f"permitmap full screening: {permitmap_s:6.2f} s median of [{runs}]")
        print(f"  {summary.detected:,} flags by severity {summary.by_severity}")
        print(f"permitmap re-run:         {rerun_s:6.2f} s ({again.detected} new, ", end="")
        print(f"{again.still_open:,} still open, {again.resolved} resolved)")
        runs = ", ".join(f"{s:.2f}" for s in bare)
        print(f"bare PostGIS join:        {bare_s:6.2f} s median of [{runs}]")
        print(f"  {bare_hits:,} feature-zone hits")
        print(
            f"permitmap / bare join: {verdict(permitmap_s / bare_s, TARGET_VS_BARE, at_most=True)}"
        )
        result: dict[str, object] = dict(bench="screen", units=args.units)
        result.update(permitmap_s=round(permitmap_s, 2), bare_join_s=round(bare_s, 2))
        result.update(geopandas_s=None, geopandas_sjoin_only_s=None)
        if not args.skip_geopandas:
            gp_hits, gp_s, sjoin_s = run_geopandas(engine)
            print(f"geopandas end to end:     {gp_s:6.2f} s ({gp_hits:,} hits)")
            print(f"  of which sjoin alone:   {sjoin_s:6.2f} s")
            if gp_hits != bare_hits:
                print(f"  note: geopandas found {gp_hits:,} hits, the bare join {bare_hits:,}")
            ratio = verdict(gp_s / permitmap_s, TARGET_VS_GEOPANDAS, at_most=False)
            print(f"geopandas / permitmap: {ratio}")
            result.update(geopandas_s=round(gp_s, 2), geopandas_sjoin_only_s=round(sjoin_s, 2))
        result["permitmap_rerun_s"] = round(rerun_s, 2)
    finally:
        engine.dispose()
        if not args.keep:
            admin(url, DROP_SCRATCH)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Benchmark: the monthly permit reminder list of the 1,000,000-unit demo (target: under 2 s).

`python -m bench.reminders --units 1000000` (what `make bench-reminders` runs). It reuses the
scratch database of bench.serve, `permitmap_bench_serve`, when it holds the units (it builds it
when it does not, and never drops it), migrated up to `--revision` (default head). Timed, each
`--runs` times after one untimed warm-up, on the list of 2026-12 (the demo's reference date is
2026-11-24):

1. `geo.reminders.monthly_reminders`: the SQL and the rows in Python;
2. `GET /api/reminders?month=2026-12` in-process (TestClient, a service token, gzip as browsers
   ask): JSON cold (a fresh app each run, so its list cache is empty: the figure the target is
   about) and cached (nothing written since), and the CSV export; the XLSX export once;
3. the peer, on the same data in the same run: pandas, reading every held permit with its unit and
   county (`pd.read_sql`) and bucketing them in the data frame, as an analyst's notebook would.

The last stdout line is the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from bench.load import holds, scratch_url, timed
from bench.serve import SCRATCH_DB, prepare
from geo.db import make_engine
from geo.migrate import upgrade
from geo.reminders import monthly_reminders
from geo.settings import DatabaseSettings, Settings

MONTH = "2026-12"
AS_OF = date(2026, 12, 1)
TARGET_S = 2.0
STAFF = {"Authorization": "Bearer dev-staff-token"}  # the development service token
PEER_SQL = """
SELECT p.id, p.permit_no, p.status::text AS status, p.valid_to, p.unit_id,
       u.status::text AS unit_status, u.county_code, c.name AS county_name
FROM permits p JOIN units u ON u.id = p.unit_id LEFT JOIN admin_regions c ON c.code = u.county_code
WHERE p.status IN ('valid', 'expired')
"""


def runs_of(action: Callable[[], object], runs: int) -> list[float]:
    """Seconds of each of `runs` runs after one untimed warm-up."""
    action()
    return [timed(action)[1] for _ in range(runs)]


def peer(engine: Engine) -> int:
    """pandas: every held permit into a frame, bucketed there; the number of reminders."""
    frame = pd.read_sql(PEER_SQL, engine)
    days = (pd.to_datetime(frame["valid_to"]) - pd.Timestamp(AS_OF)).dt.days
    closed = frame["unit_status"] == "closed"
    newest = frame.groupby("unit_id")["valid_to"].transform("max") == frame["valid_to"]
    due = ~closed & newest & (days <= 90)
    bucket = pd.cut(days[due], [-(10**6), -1, 30, 60, 90], labels=["expired", "30", "60", "90"])
    listed = pd.concat(
        [frame[due].assign(reminder=bucket), frame[closed].assign(reminder="closed")]
    )
    return len(listed.sort_values(["county_code", "reminder", "valid_to", "permit_no"]))


def scratch_engine(units: int, revision: str) -> tuple[str, Engine]:
    """The bench.serve scratch database, reused when it holds `units` (never dropped here)."""
    url = scratch_url(SCRATCH_DB)
    if holds(url, SCRATCH_DB, units):
        print(f"reusing database {SCRATCH_DB} ({units:,} units), migrating to {revision}")
        engine = make_engine(url)
        upgrade(engine, revision)
        return url, engine
    return url, prepare(url, units, reuse=True)


def measure(url: str, engine: Engine, runs: int) -> dict[str, Any]:
    """Every timing of the run."""
    with Session(engine) as session:
        found = monthly_reminders(session, month=AS_OF)
        geo_s = runs_of(lambda: monthly_reminders(session, month=AS_OF), runs)
    listed = sum(found.totals.values())
    with engine.connect() as conn:
        permits = conn.exec_driver_sql("SELECT count(*) FROM permits").scalar()
    settings = Settings(database=DatabaseSettings(database_url=url, db_warm_pool=False))

    def get(client: TestClient, fmt: str) -> bytes:
        response = client.get(f"/api/reminders?month={MONTH}&format={fmt}", headers=STAFF)
        response.raise_for_status()
        return response.content

    def cold() -> bytes:  # a fresh app: its reminder cache is empty
        with TestClient(create_app(settings)) as client:
            client.get("/health")
            return get(client, "json")

    json_s = runs_of(cold, runs)
    with TestClient(create_app(settings)) as client:
        json_bytes, csv_bytes = len(get(client, "json")), len(get(client, "csv"))
        cached_s = runs_of(lambda: get(client, "json"), runs)
        csv_s = runs_of(lambda: get(client, "csv"), runs)
        xlsx_s = timed(lambda: get(client, "xlsx"))[1]
    peer_listed, peer_s = timed(lambda: peer(engine))
    return {
        "permits": permits,
        "listed": listed,
        "totals": found.totals,
        "peer_listed": peer_listed,
        "geo_s": geo_s,
        "json_s": json_s,
        "cached_s": cached_s,
        "csv_s": csv_s,
        "xlsx_s": xlsx_s,
        "peer_s": peer_s,
        "json_bytes": json_bytes,
        "csv_bytes": csv_bytes,
    }


def report(result: dict[str, Any]) -> None:
    """The figures, the target verdict and the ratio to the peer; JSON last."""
    print(f"{result['permits']:,} permits; list of {MONTH}: {result['listed']:,} reminders")
    print("  " + ", ".join(f"{k} {v:,}" for k, v in result["totals"].items()))
    labels = (
        ("geo_s", "monthly_reminders (SQL + rows)"),
        ("json_s", "GET JSON, cold (empty cache)"),
        ("cached_s", "GET JSON, cached"),
    )
    for key, label in labels:
        times = result[key]
        print(f"{label:<34} median {statistics.median(times):.2f} s, max {max(times):.2f} s")
    print(f"{'GET CSV':<34} median {statistics.median(result['csv_s']):.2f} s")
    print(f"{'GET XLSX (once)':<34} {result['xlsx_s']:.2f} s")
    peer_s = result["peer_s"]
    print(f"{'peer: pandas read_sql + bucketing':<34} {peer_s:.2f} s ({result['peer_listed']:,})")
    worst = max(result["json_s"])
    verdict = "met" if worst < TARGET_S else "MISSED"
    print(f"target: the list in under {TARGET_S:.0f} s: {verdict} (worst cold JSON {worst:.2f} s)")
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"permitmap JSON is {peer_s / statistics.median(result['json_s']):.1f}× the peer's speed")
    print(json.dumps(result, default=str))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__)
    parser.add_argument("--units", type=int, default=1_000_000, help="units (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--revision", default="head", help="migrate the database up to this")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    url, engine = scratch_engine(args.units, args.revision)
    try:
        report(measure(url, engine, args.runs))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()

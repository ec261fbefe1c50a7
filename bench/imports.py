"""Benchmark: import 1,000,000 units from a CSV file, beside ogr2ogr loading the same file.

`python -m bench.imports --units 1000000` (what `make bench-import` runs). The issue's target:
**`permitmap import units` (full validation, upsert, re-screening) at least 0.5× the rows/s of
`ogr2ogr` (GDAL) loading the same CSV into PostGIS without validation, same run.**

Uses the app's server (DATABASE_URL, else the embedded cluster) but only the scratch database
`permitmap_bench_import`, recreated for each repeat (migrated to head, the demo province loaded at
`--demo-units` units, untimed) and dropped at the end unless `--keep`. The CSV (the national
platform's Chinese headers, UTF-8) is generated once per run from the demo generator, for the same
province and layout, with credit codes of a series the demo never draws. Timed, one after the
other, in each repeat: `permitmap import units FILE` (a subprocess, end to end), the same import
again (every row unchanged: the re-run), then `ogr2ogr` into a table of its own. Medians over
`--repeat`. The last stdout line is the JSON result. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.import_floor import write_floor
from bench.load import admin, scratch_url, sql, timed
from data.demo.inventory import credit_codes, generate_units
from data.demo.layout import Layout, build_layout
from data.demo.loader import write_demo
from data.demo.options import DEFAULT_SEED, DemoOptions
from data.demo.province import build_demo, forbidden_ground
from data.demo.zones import control_units, red_lines_and_reserves, water_sources, water_zone_drafts
from geo.db import make_engine
from geo.migrate import upgrade
from geo.screening import screen

SCRATCH_DB = "permitmap_bench_import"
DROP_SCRATCH = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TARGET_RATIO = 0.5  # the issue: at least 0.5x ogr2ogr's rows/s
DEMO_UNITS = 1_000  # the demo under the import: regions, industry codes, zones, rivers
SERIES = "PB"  # credit-code body prefix: the demo's bodies start with a digit, planted ones "MA"
EXTRA_SHARE = 0.05  # units drawn beyond --units, for the rows dropped (see import_frame)
PERMITMAP = Path(sys.executable).with_name("permitmap")
OUT = Path(__file__).resolve().parent / "out"
OGR_TABLE = "ogr_units"
CATEGORY_LABELS = {"key": "重点管理", "simplified": "简化管理", "registration": "登记管理"}
STATUS_LABELS = {"operating": "运行", "suspended": "停产", "closed": "关闭"}
HEADERS = {  # CSV header → generated column
    "统一社会信用代码": "credit_code",
    "厂区序号": "site_seq",
    "单位名称": "name",
    "行业类别代码": "industry_code",
    "管理类别": "category",
    "区县代码": "county_code",
    "地址": "address",
    "生产状态": "status",
    "经度": "lon",
    "纬度": "lat",
}


@dataclass
class Repeat:
    """One repeat's timings (seconds) and the rows each side left in the database."""

    permitmap_s: float | None = None
    rerun_s: float | None = None
    permitmap_rows: int | None = None
    ogr2ogr_s: float | None = None
    ogr2ogr_rows: int | None = None
    floor_s: float | None = None


def demo_options(units: int, seed: int) -> DemoOptions:
    """The demo's options at `units` units (same province, seed and reference date)."""
    return DemoOptions(units=units, seed=seed, as_of=AS_OF)


def avoided_ground(layout: Layout, options: DemoOptions) -> shapely.Geometry:
    """Where the demo keeps its generated units out of (protection zones with a margin): the
    first steps of `data.demo.province.build_demo`, for the same layout and seed."""
    sources = water_sources(layout, options.rng(4))
    protected = water_zone_drafts(sources, "") + red_lines_and_reserves(layout, options.rng(5), "")
    drafts = layout.parks + protected + control_units(layout, protected)
    return shapely.union(*forbidden_ground(drafts))


def county_polygons(engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    """The counties as the database holds them: codes and shapely polygons (WGS 84)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code, ST_AsBinary(geom) FROM admin_regions WHERE level = 'county'")
        ).all()
    codes = np.array([code for code, _ in rows])
    return codes, shapely.from_wkb([bytes(wkb) for _, wkb in rows])


def import_frame(engine: Engine, units: int, seed: int) -> pd.DataFrame:
    """`units` rows for the CSV, in the CSV's column order and labels.

    Points, names, industries, categories and states come from `generate_units` for the demo's
    province, layout and seed (so they fall where the demo's units do, away from protection
    zones). Coordinates are written with 6 decimals; each row's county is the one of the
    database's county polygons that holds its rounded point. Dropped, hence a few extra drawn:
    points in no county or in two, and names already used in the row's county (by the demo's
    units: the import reports a new unit named like a stored one of its county as a likely
    duplicate; or by an earlier row: ~3 % of generated names repeat within a county). Credit
    codes are then drawn in series `SERIES`, valid check digits, for the row's county; an
    enterprise's second site repeats the previous row's code with 厂区序号 2, so (code, site) is
    unique and never one of the demo's units: the first import inserts every row.
    """
    options = demo_options(int(units * (1 + EXTRA_SHARE)) + 100, seed)
    layout = build_layout(options)
    generated = generate_units(layout, options, avoided_ground(layout, options))
    lon = pd.Series(generated["lon"].to_numpy()).map("{:.6f}".format)
    lat = pd.Series(generated["lat"].to_numpy()).map("{:.6f}".format)
    points = shapely.points(lon.astype(float).to_numpy(), lat.astype(float).to_numpy())
    codes, shapes = county_polygons(engine)
    point_index, county_index = shapely.STRtree(shapes).query(points, predicate="within")
    hits = np.bincount(point_index, minlength=len(points))
    county = np.full(len(points), None, dtype=object)
    county[point_index] = codes[county_index]
    with engine.connect() as conn:
        stored = pd.DataFrame(conn.execute(text("SELECT name, county_code FROM units")).all())
    named = pd.Series(generated["name"].to_numpy() + "|" + county.astype(str))
    taken = named.isin(stored["name"] + "|" + stored["county_code"]) | named.duplicated()
    keep = np.flatnonzero((hits == 1) & ~taken.to_numpy())[:units]
    if len(keep) < units:
        raise SystemExit(f"only {len(keep):,} usable rows among {len(points):,} drawn")
    rows = generated.iloc[keep].reset_index(drop=True)
    county = county[keep].astype(str)
    second = rows["site_seq"].to_numpy() == 2
    second[0] = False
    second &= ~np.roll(second, 1)
    credit = credit_codes(county, options.rng(90), body_prefix=SERIES)
    credit[second] = credit[np.flatnonzero(second) - 1]
    frame = pd.DataFrame(
        {
            "credit_code": credit,
            "site_seq": np.where(second, 2, 1),
            "name": rows["name"],
            "industry_code": rows["industry_code"],
            "category": rows["category"].map(CATEGORY_LABELS),
            "county_code": county,
            "address": rows["address"],
            "status": rows["status"].map(STATUS_LABELS),
            "lon": lon.iloc[keep].to_numpy(),
            "lat": lat.iloc[keep].to_numpy(),
        }
    )
    assert not frame.duplicated(["credit_code", "site_seq"]).any(), "duplicate natural keys"
    assert frame.notna().all().all(), "an empty cell"
    return frame.set_axis(list(HEADERS), axis=1)


def check_reference(engine: Engine, frame: pd.DataFrame) -> None:
    """Every industry code of the file is in `industry_codes` (the import would reject it)."""
    with engine.connect() as conn:
        known = set(conn.execute(text("SELECT code FROM industry_codes")).scalars())
    unknown = set(frame["行业类别代码"].unique()) - known
    assert not unknown, f"industry codes missing from the database: {sorted(unknown)[:5]}"


def prepare(url: str, seed: int, demo_units: int) -> tuple[Engine, float]:
    """Recreate the scratch database, migrate it, load the demo at `demo_units` units and screen
    it (its flags exist before the import, as in a province in use), VACUUM ANALYZE and
    CHECKPOINT (all untimed); its engine and how long that took."""

    def build() -> Engine:
        admin(url, DROP_SCRATCH, f"CREATE DATABASE {SCRATCH_DB}")
        engine = make_engine(url)
        upgrade(engine)
        write_demo(engine, build_demo(demo_options(demo_units, seed)))
        with Session(engine) as session:
            screen(session, now=NOW)
            session.commit()
        settle(url)
        return engine

    return timed(build)


def settle(url: str) -> None:
    """Untimed, before each timed step: VACUUM ANALYZE the scratch database (so no autovacuum
    of the last step's rows competes with the next one) and CHECKPOINT (its dirty pages)."""
    admin(url, "VACUUM ANALYZE", database=SCRATCH_DB)
    admin(url, "CHECKPOINT")


def imported_units(engine: Engine) -> int:
    """Units of the benchmark's credit-code series (characters 9-10 of the code)."""
    found = sql(engine, f"SELECT count(*) FROM units WHERE substr(credit_code, 9, 2) = '{SERIES}'")
    return int(found)  # type: ignore[arg-type]


def permitmap_available(env: dict[str, str]) -> bool:
    """Whether `permitmap import units` exists (its --help exits 0)."""
    command = [str(PERMITMAP), "import", "units", "--help"]
    return subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0


def run_permitmap(csv_path: Path, env: dict[str, str], log: Path) -> tuple[float, dict[str, Any]]:
    """`permitmap import units FILE --json`, its output into `log`; wall seconds and the report
    it printed. A failed import ends the benchmark with the tail of its output."""
    command = [str(PERMITMAP), "import", "units", str(csv_path), "--json"]
    done, seconds = timed(
        lambda: subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    )
    log.write_text(f"$ {' '.join(command)}\n{done.stdout}\n{done.stderr}", encoding="utf-8")
    if done.returncode != 0:
        print("\n".join(log.read_text(encoding="utf-8").splitlines()[-40:]), file=sys.stderr)
        raise SystemExit(f"permitmap import units exited {done.returncode}; output in {log}")
    try:
        found = json.loads(done.stdout)
    except json.JSONDecodeError:  # the report's shape is the CLI's business: time it anyway
        found = {}
    return seconds, found if isinstance(found, dict) else {}


def counts(found: dict[str, Any]) -> str:
    """The report's counts, e.g. `inserted 1,000, updated 0, unchanged 0`."""
    shown = [
        f"{key} {found[key]:,}" for key in ("inserted", "updated", "unchanged") if key in found
    ]
    return ", ".join(shown) or "no counts reported"


def ogr2ogr_command(exe: str, engine: Engine, csv_path: Path) -> list[str]:
    """ogr2ogr from the CSV into `ogr_units`: points from 经度/纬度 (not kept as columns), WGS 84,
    geometry `geom` with a GiST index, COPY, replacing the table if there."""
    connect = engine.dialect.create_connect_args(engine.url)[1]
    target = "PG:" + make_conninfo(**{k: v for k, v in connect.items() if k != "context"})
    return [
        exe, "-f", "PostgreSQL", target, str(csv_path), "-nln", OGR_TABLE,
        "-oo", "X_POSSIBLE_NAMES=经度", "-oo", "Y_POSSIBLE_NAMES=纬度",
        "-oo", "KEEP_GEOM_COLUMNS=NO", "-a_srs", "EPSG:4326",
        "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST",
        "--config", "PG_USE_COPY", "YES", "-overwrite",
    ]  # fmt: skip


def run_ogr2ogr(command: list[str], engine: Engine, log: Path) -> tuple[float, int]:
    """ogr2ogr, its output into `log`; wall seconds and the rows (with a point) it loaded."""
    with log.open("w", encoding="utf-8") as out:
        done, seconds = timed(lambda: subprocess.run(command, stdout=out, stderr=subprocess.STDOUT))
    if done.returncode != 0:
        print(log.read_text(encoding="utf-8", errors="replace")[-3000:], file=sys.stderr)
        raise SystemExit(f"ogr2ogr exited {done.returncode}; output in {log}")
    rows = sql(engine, f"SELECT count(geom) FROM {OGR_TABLE}")
    return seconds, int(rows)  # type: ignore[arg-type]


def one_repeat(
    url: str,
    csv_path: Path,
    args: argparse.Namespace,
    with_permitmap: bool,
    number: int,
    engine: Engine | None = None,
) -> Repeat:
    """On a fresh scratch database (`engine`'s, else recreated here): permitmap (first import,
    re-run), then ogr2ogr."""
    if engine is None:
        engine, setup_s = prepare(url, args.seed, args.demo_units)
        print(f"repeat {number}: database recreated in {setup_s:.1f} s (untimed)")
    else:
        print(f"repeat {number}:")
    result = Repeat()
    try:
        if with_permitmap:
            env = {**os.environ, "DATABASE_URL": url}
            result.permitmap_s, found = run_permitmap(csv_path, env, OUT / f"import-{number}.log")
            result.permitmap_rows = imported_units(engine)
            print(
                f"  permitmap import:  {result.permitmap_s:7.1f} s ({counts(found)};"
                f" {result.permitmap_rows:,} units of the file in the database)"
            )
            if found.get("screening"):
                print(f"    {found['screening']}")
            if found.get("inserted", result.permitmap_rows) != result.permitmap_rows:
                print(f"  WARNING: the report says {counts(found)}, not every row inserted")
            settle(url)
            result.rerun_s, found = run_permitmap(csv_path, env, OUT / f"import-{number}-rerun.log")
            rerun_rows = imported_units(engine)
            assert rerun_rows == result.permitmap_rows, f"re-run left {rerun_rows:,} units"
            print(f"  permitmap re-run:  {result.rerun_s:7.1f} s ({counts(found)})")
            if found.get("unchanged", rerun_rows) != rerun_rows:
                print("  WARNING: the re-run changed rows: it is not the unchanged case")
            if found.get("screening"):
                print(f"    {found['screening']}")
            settle(url)
        exe = shutil.which("ogr2ogr")
        if exe is None:
            print("  ogr2ogr: not on PATH (Debian package gdal-bin: `make gdal`), skipped")
        else:
            command = ogr2ogr_command(exe, engine, csv_path)
            result.ogr2ogr_s, result.ogr2ogr_rows = run_ogr2ogr(
                command, engine, OUT / f"import-{number}-ogr2ogr.log"
            )
            print(f"  ogr2ogr:           {result.ogr2ogr_s:7.1f} s ({result.ogr2ogr_rows:,} rows)")
    finally:
        engine.dispose()
    result.floor_s = run_floor(url, csv_path, args)
    return result


def run_floor(url: str, csv_path: Path, args: argparse.Namespace) -> float:
    """The write floor (bench.import_floor) on a fresh scratch database; its seconds."""
    engine, setup_s = prepare(url, args.seed, args.demo_units)
    try:
        floor = write_floor(engine, csv_path)
    finally:
        engine.dispose()
    steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in floor.steps.items())
    print(
        f"  write floor:       {floor.seconds:7.1f} s ({floor.rows:,} rows: {steps};"
        f" database recreated in {setup_s:.1f} s, untimed)"
    )
    return floor.seconds


def profile(url: str, csv_path: Path, args: argparse.Namespace) -> None:
    """A first import and its re-run on a fresh database, each in `bench.import_profile`
    (cProfile, every SQL statement timed; untimed here); summaries into
    bench/out/import-profile-{first,rerun}.txt, raw profiles beside them (.prof)."""
    engine, _ = prepare(url, args.seed, args.demo_units)
    engine.dispose()
    env = {**os.environ, "DATABASE_URL": url}
    for name in ("first", "rerun"):
        raw = OUT / f"import-profile-{name}.prof"
        command = [sys.executable, "-m", "bench.import_profile", str(csv_path), "units"]
        done = subprocess.run(
            [*command, "--out", str(raw)], env=env, capture_output=True, text=True, check=False
        )
        path = raw.with_suffix(".txt")
        path.write_text(done.stderr, encoding="utf-8")
        summary = done.stderr.split("functions by cumulative time:")[0].strip().splitlines()
        print(f"profile of the {'first import' if name == 'first' else 're-run'} (untimed):")
        print("\n".join(f"  {line}" for line in summary[-17:]))
        print(f"  (functions by cumulative time: {path}; raw profile: {raw})")
        settle(url)


def median(values: list[float | None]) -> float | None:
    """The median of the measured values, None when none was measured."""
    measured = [v for v in values if v is not None]
    return statistics.median(measured) if measured else None


def rate(rows: int | None, seconds: float | None) -> float | None:
    """Rows per second, rounded; None when either is missing."""
    return round(rows / seconds, 1) if rows is not None and seconds else None


def report(runs: list[Repeat], requested: int) -> dict[str, object]:
    """The table of runs and medians on stdout; the JSON result."""
    permitmap_s = median([r.permitmap_s for r in runs])
    rerun_s = median([r.rerun_s for r in runs])
    ogr2ogr_s = median([r.ogr2ogr_s for r in runs])
    permitmap_rows = next((r.permitmap_rows for r in runs if r.permitmap_rows is not None), None)
    ogr2ogr_rows = next((r.ogr2ogr_rows for r in runs if r.ogr2ogr_rows is not None), None)
    for name, counts in (
        ("permitmap", [r.permitmap_rows for r in runs]),
        ("ogr2ogr", [r.ogr2ogr_rows for r in runs]),
    ):
        if any(c is not None and c != requested for c in counts):
            print(f"WARNING: {name} left {counts} rows, the file holds {requested:,}")

    def cell(values: list[float | None], chosen: float | None) -> str:
        shown = ", ".join(f"{v:.1f}" for v in values if v is not None)
        return f"{chosen:8.1f} s  (runs {shown})" if chosen is not None else "       -"

    print(f"\nmedians of {len(runs)} run(s), {requested:,} rows:")
    p_rate, r_rate = rate(permitmap_rows, permitmap_s), rate(permitmap_rows, rerun_s)
    o_rate = rate(ogr2ogr_rows, ogr2ogr_s)
    for label, values, chosen, rows_per_s in (
        ("permitmap import", [r.permitmap_s for r in runs], permitmap_s, p_rate),
        ("permitmap re-run", [r.rerun_s for r in runs], rerun_s, r_rate),
        ("ogr2ogr", [r.ogr2ogr_s for r in runs], ogr2ogr_s, o_rate),
    ):
        per_s = f"{rows_per_s:>10,.0f} rows/s" if rows_per_s else ""
        print(f"  {label:17} {cell(values, chosen)}  {per_s}")
    floor_s = median([r.floor_s for r in runs])
    f_rate = rate(requested, floor_s)
    print(
        f"  {'write floor':17} {cell([r.floor_s for r in runs], floor_s)}  {f_rate:>10,.0f} rows/s"
    )
    ratio = round(p_rate / o_rate, 3) if p_rate and o_rate else None
    if ratio is not None:
        met = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"ratio permitmap / ogr2ogr rows/s: {ratio:.2f} (target >= {TARGET_RATIO}: {met})")
    bound = round(f_rate / o_rate, 3) if f_rate and o_rate else None
    if bound is not None:
        print(
            f"ratio write floor / ogr2ogr rows/s: {bound:.2f} (no validating import can do better)"
        )
    result: dict[str, object] = {
        "bench": "import",
        "rows": permitmap_rows if permitmap_rows is not None else ogr2ogr_rows,
        "permitmap_rows_per_s": p_rate,
        "ogr2ogr_rows_per_s": o_rate,
        "permitmap_s": round(permitmap_s, 2) if permitmap_s is not None else None,
        "ogr2ogr_s": round(ogr2ogr_s, 2) if ogr2ogr_s is not None else None,
        "permitmap_rerun_s": round(rerun_s, 2) if rerun_s is not None else None,
        "ratio": ratio,
        "write_floor_s": round(floor_s, 2) if floor_s is not None else None,
        "floor_ratio": bound,
    }
    if ogr2ogr_rows is not None and ogr2ogr_rows != result["rows"]:
        result["ogr2ogr_rows"] = ogr2ogr_rows
    return result


def write_csv(engine: Engine, args: argparse.Namespace, csv_path: Path) -> None:
    """Generate the file's rows (untimed) and write the CSV: UTF-8 without BOM, comma-separated,
    a header line."""
    frame, generate_s = timed(lambda: import_frame(engine, args.units, args.seed))
    check_reference(engine, frame)
    write_s = timed(lambda: frame.to_csv(csv_path, index=False, encoding="utf-8"))[1]
    size = csv_path.stat().st_size / 1e6
    print(
        f"CSV: {len(frame):,} rows, {size:,.0f} MB, generated in {generate_s:.1f} s,"
        f" written in {write_s:.1f} s ({csv_path}; untimed)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.imports",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--units", type=int, default=1_000_000, help="rows of the CSV")
    parser.add_argument("--repeat", type=int, default=3, help="repeats (medians; default 3)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument(
        "--demo-units",
        type=int,
        default=DEMO_UNITS,
        help=f"units of the demo under the import (default {DEMO_UNITS:,})",
    )
    parser.add_argument("--keep-csv", type=Path, metavar="PATH", help="write the CSV here, keep it")
    parser.add_argument("--keep", action="store_true", help=f"keep database {SCRATCH_DB}")
    parser.add_argument(
        "--profile", action="store_true", help="then profile one more import (bench.import_profile)"
    )
    parser.add_argument("--skip-permitmap", action="store_true", help="ogr2ogr only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; the last stdout line is the JSON result."""
    args = parse_args(argv)
    url = scratch_url(SCRATCH_DB)
    OUT.mkdir(exist_ok=True)
    with_permitmap = not args.skip_permitmap
    if with_permitmap and not permitmap_available({**os.environ, "DATABASE_URL": url}):
        print("permitmap import units: no such command yet, permitmap's figures are null")
        with_permitmap = False
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    started = time.perf_counter()
    runs: list[Repeat] = []
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        csv_path = args.keep_csv or Path(tmp) / "units.csv"
        try:
            engine, setup_s = prepare(url, args.seed, args.demo_units)
            print(
                f"database {SCRATCH_DB} with the demo at {args.demo_units:,} units:"
                f" {setup_s:.1f} s (untimed)"
            )
            try:
                write_csv(engine, args, csv_path)
            except BaseException:
                engine.dispose()
                raise
            for number in range(1, args.repeat + 1):
                first = engine if number == 1 else None
                runs.append(one_repeat(url, csv_path, args, with_permitmap, number, first))
            if args.profile and with_permitmap:
                profile(url, csv_path, args)
        finally:
            if not args.keep:
                admin(url, DROP_SCRATCH)
    result = report(runs, args.units)
    load = os.getloadavg()
    print(
        f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f};"
        f" whole benchmark {time.perf_counter() - started:.0f} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

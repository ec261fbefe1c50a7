"""Staging of parsed rows in PostgreSQL, and the checks that need the database.

Parsed rows are COPYed into a temporary table (dropped at the end of the transaction); checks
against the database (codes that must exist, duplicates of stored rows, points inside the
province) are set-based queries over it that return problems as (row, field, value, message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from geo.bulk import copy_frame
from geo.imports.base import ImportReport, Problem

POINT_SQL = "ST_SetSRID(ST_MakePoint({alias}lon, {alias}lat), 4326)"
# How far (m) a point may lie outside the county its row names before that is a problem:
# county boundaries are simplified, and a site on the border is often drawn a little across it.
COUNTY_SLACK_M = 500


# A point this close (degrees, ~0.1 mm) to the stored one is the same point: Excel keeps 15
# significant digits, so a coordinate that went through a spreadsheet differs in the last ones.
SAME_POINT_DEGREES = 1e-9


def kept_point_sql(table: str) -> str:
    """SQL for an upsert's new geometry: the stored point when the incoming one is the same
    point (within SAME_POINT_DEGREES), else the incoming one."""
    return (
        f"CASE WHEN ST_DWithin({table}.geom, EXCLUDED.geom, {SAME_POINT_DEGREES})"
        f" THEN {table}.geom ELSE EXCLUDED.geom END"
    )


def point_sql(alias: str = "s") -> str:
    """SQL of the WGS84 point of a staged row with `lon`/`lat` columns."""
    return POINT_SQL.format(alias=f"{alias}." if alias else "")


def stage(session: Session, table: str, frame: pd.DataFrame, types: Mapping[str, str]) -> None:
    """Create the temporary table `table` with `types` (column → SQL type, in `frame`'s column
    order) and COPY `frame` into it; empty strings and NaN arrive as NULL."""
    columns = ", ".join(f"{name} {types[name]}" for name in frame.columns)
    session.execute(text(f"DROP TABLE IF EXISTS {table}"))  # an earlier import in this transaction
    session.execute(text(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP"))
    copy_frame(session.connection(), table, frame)
    session.execute(text(f"ANALYZE {table}"))


def report_query(
    session: Session, report: ImportReport, sql: str, params: Mapping[str, object] | None = None
) -> int:
    """Run a check whose rows are (row, field, value, message) and record them as problems
    (all counted, the first ones the report keeps built). Returns how many there were."""
    room = max(report.max_problems - len(report.problems), 0)
    found = session.execute(
        text(f"SELECT p.*, count(*) OVER () AS total FROM ({sql}) p ORDER BY 1 LIMIT :room"),
        {**(params or {}), "room": max(room, 1)},
    ).all()
    if not found:
        return 0
    total = int(found[0].total)
    kept = found[:room]
    report.add_many(
        [
            Problem(r[3], row=int(r[0]), field=r[1], value=None if r[2] is None else str(r[2]))
            for r in kept
        ]
    )
    report.problem_count += total - len(kept)
    return total


def locate_points(session: Session, table: str, *, with_county: bool = False) -> None:
    """Set `found_county` of each staged row to the county its point lies in (NULL outside every
    county, i.e. outside the province): first the county the row names (`with_county`), else
    through counties cut into small parts (fast point tests with an index)."""
    session.execute(text(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS found_county text"))
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS import_county_parts ON COMMIT DROP AS"
            " SELECT code, ST_Subdivide(geom, 64) AS geom FROM admin_regions"
            " WHERE level = 'county'"
        )
    )
    session.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_import_county_parts"
            " ON import_county_parts USING gist (geom)"
        )
    )
    session.execute(text("ANALYZE import_county_parts"))
    if with_county:  # the county the file names, when the point lies in it (a hash join)
        session.execute(
            text(
                f"UPDATE {table} s SET found_county = r.code FROM admin_regions r"
                f" WHERE r.code = s.county_code AND r.level = 'county'"
                f" AND ST_Intersects(r.geom, {point_sql()})"
            )
        )
    session.execute(
        text(
            f"UPDATE {table} s SET found_county = ("
            "  SELECT c.code FROM import_county_parts c"
            f"  WHERE ST_Intersects(c.geom, {point_sql()}) LIMIT 1)"
            " WHERE s.lon IS NOT NULL AND s.lat IS NOT NULL AND s.found_county IS NULL"
        )
    )


def location_checks(table: str, *, with_county: bool) -> list[str]:
    """Checks of staged points after `locate_points`: inside the province, and (when the file
    gives a county) in or near that county. The queries take the headers to name as the
    parameters `lon_header` and `county_header`."""
    checks = [
        "SELECT s.row, CAST(:lon_header AS text), concat(s.lon, ', ', s.lat),"
        " 'the point lies outside the province (no county of it contains it)'"
        f" FROM {table} s WHERE s.lon IS NOT NULL AND s.lat IS NOT NULL"
        " AND s.found_county IS NULL"
    ]
    if with_county:
        checks.append(
            "SELECT s.row, CAST(:county_header AS text), s.county_code,"
            " '区县代码 ' || s.county_code || ' is not a county of the province'"
            f" FROM {table} s WHERE s.county_code IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM admin_regions r WHERE r.code = s.county_code"
            "  AND r.level = 'county')"
        )
        checks.append(
            "SELECT s.row, CAST(:county_header AS text), s.county_code,"
            " 'the point lies in county ' || f.code || ' ' || f.name || ', more than"
            f" {COUNTY_SLACK_M} m from county ' || s.county_code || ' ' || r.name"
            f" FROM {table} s JOIN admin_regions r ON r.code = s.county_code"
            " JOIN admin_regions f ON f.code = s.found_county"
            " WHERE s.found_county <> s.county_code"
            f" AND NOT ST_DWithin(r.geom::geography, {point_sql()}::geography,"
            f" {COUNTY_SLACK_M})"
        )
    return checks


def report_queries(
    session: Session, report: ImportReport, checks: list[str], params: Mapping[str, object]
) -> None:
    """Run every check (see `report_query`)."""
    for check in checks:
        report_query(session, report, check, params)


def update_clause(table: str, updates: Mapping[str, str], *, also: str = "") -> str:
    """`DO UPDATE SET …` of an upsert into `table` (column → new value), touching only rows
    where a value differs (so unchanged rows are neither written nor returned); `also` is set
    on those rows too without being compared (a version bump)."""
    assignments = ", ".join(
        [f"{column} = {value}" for column, value in updates.items()] + ([also] if also else [])
    )
    stored = ", ".join(f"{table}.{column}" for column in updates)
    return (
        f"DO UPDATE SET {assignments}"
        f" WHERE ({stored}) IS DISTINCT FROM ({', '.join(updates.values())})"
    )


def count_written(report: ImportReport, written: Sequence[Row], total: int) -> None:
    """Counts from an upsert's `RETURNING …, xmax = 0 AS inserted` rows out of `total`."""
    report.inserted = sum(1 for row in written if row.inserted)
    report.updated = len(written) - report.inserted
    report.unchanged = total - len(written)

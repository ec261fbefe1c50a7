"""Monitoring data as the pages show them: an outlet's hourly or daily series per pollutant
against its permitted limits (staff), outlet counts by live status per county (staff), and the
daily averages of a key unit's outlets (public disclosure, 自行监测信息公开).

Every series is computed in one set-based statement over the month-partitioned `readings`:

- an **hourly** point is the device's hourly average (CN 2061) where it sent one, else the mean
  of the hour's minute averages (CN 2051), else the mean of its real-time values (CN 2011);
- a **daily** point is the device's daily average (CN 2031) where it sent one, else the mean of
  the day's hourly points.

Hours and days are China Standard Time (a day starts at 00:00 in Beijing). Only valid data are
averaged: values flagged `N` (instrument working normally) or sent without a flag; values the
device marked stopped, under maintenance, faulty, calibrating, manual, out of range or with a
communication fault (F, M, D, C, S, T, B…) are left out, as HJ 75 leaves them out of averages.
A response is bounded: at most 168 hourly or 30 daily points per pollutant and
`MAX_SERIES` pollutants per outlet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.credit_code import is_well_formed
from geo.errors import NotFoundError, QueryError

Window = Literal["24h", "7d", "30d"]
WINDOWS: dict[str, tuple[str, int]] = {"24h": ("hour", 24), "7d": ("hour", 168), "30d": ("day", 30)}
MAX_SERIES = 20  # pollutants per outlet in one response (permitted ones first)
PUBLIC_DAYS = 30  # complete days of daily averages a key unit's public page shows
POLLUTANT_CODE = re.compile(r"^[wa][0-9]{5}$")
COUNTY_CODE = re.compile(r"^[0-9]{6}$")
VALID_FLAGS = ("N",)  # HJ 212-2017: N = instrument working normally
CN_DAILY, CN_HOURLY, CN_MINUTE, CN_REALTIME = 2031, 2061, 2051, 2011
LIVE_STATUSES = ("normal", "exceedance", "abnormal", "offline", "not_monitored")

# What the public sees of online monitoring, and nothing else: per outlet its public fields (the
# outlets layer's public `code`, `kind`, `medium`), per permitted pollutant its name and limit,
# and per day its average. No real-time, minute or hourly value, no flag, no device, no event.
PUBLIC_OUTLET_COLUMNS = ("code", "kind", "medium")
PUBLIC_POLLUTANT_COLUMNS = (
    *("pollutant_code", "pollutant_name", "concentration_limit", "concentration_unit"),
)
PUBLIC_DAILY_COLUMNS = ("date", "value")


@dataclass(frozen=True)
class Point:
    """One point of a series: the start of its hour or day, its value, and the data it comes
    from (2031 daily or 2061 hourly averages sent by the device, 2051 minute or 2011 real-time
    values averaged here; a daily point averaged from the day's hours says 2061)."""

    t: datetime
    value: float
    cn: int


@dataclass
class Series:
    """A pollutant's points and its limits (permitted concentration, special limit)."""

    pollutant_code: str
    pollutant_name: str | None
    unit: str | None
    concentration_limit: float | None
    special_limit: float | None
    points: list[Point] = field(default_factory=list)


@dataclass(frozen=True)
class OutletSeries:
    """An outlet's series over a window: hourly (24h, 7d) or daily (30d) points from `start`
    to `end` (the end of the current hour or day; no point lies after the request's time)."""

    outlet_id: int
    outlet_code: str
    live_status: str
    monitored: bool
    window: str
    step: str
    start: datetime
    end: datetime
    series: list[Series]


def window_bounds(window: str, now: datetime) -> tuple[str, datetime, datetime]:
    """(step, start, end) of a window ending with the hour or day holding `now` (China time)."""
    if window not in WINDOWS:
        raise QueryError(f"window is one of {', '.join(WINDOWS)}", field="window", value=window)
    step, bins = WINDOWS[window]
    local = now.astimezone(CHINA)
    if step == "hour":
        current = local.replace(minute=0, second=0, microsecond=0)
        return step, current - timedelta(hours=bins - 1), current + timedelta(hours=1)
    today = datetime.combine(local.date(), time(0), CHINA)
    return step, today - timedelta(days=bins - 1), today + timedelta(days=1)


def outlet_series(
    session: Session, *, outlet_id: int, pollutant: str | None, window: str, now: datetime
) -> OutletSeries:
    """The outlet's series over `window`: of `pollutant`, or of every pollutant it is permitted
    or sent data for (permitted ones first, at most MAX_SERIES), with the permitted limits."""
    if pollutant is not None and not POLLUTANT_CODE.match(pollutant):
        raise QueryError(
            "pollutant is an HJ 212 code such as w01018", field="pollutant", value=pollutant
        )
    step, start, end = window_bounds(window, now)
    outlet = session.execute(text(_OUTLET), {"outlet": outlet_id}).mappings().first()
    if outlet is None:
        raise NotFoundError(f"no outlet {outlet_id}")
    limits = {
        row["pollutant_code"]: row
        for row in session.execute(text(_LIMITS), {"outlet": outlet_id}).mappings()
    }
    codes = [pollutant] if pollutant is not None else None
    params = {"outlet": outlet_id, "start": start, "end": end, "now": now, "codes": codes}
    rows = session.execute(
        text(_points_sql(step, ":outlet")), {**params, "valid_flags": list(VALID_FLAGS)}
    ).mappings()
    points: dict[str, list[Point]] = {}
    for row in rows:
        points.setdefault(row["pollutant_code"], []).append(
            Point(row["t"].astimezone(CHINA), row["value"], row["cn"])
        )
    wanted = codes or [*limits, *sorted(set(points) - set(limits))]  # limits: by code
    return OutletSeries(
        outlet_id=outlet_id,
        outlet_code=outlet["code"],
        live_status=outlet["live_status"],
        monitored=outlet["monitored"],
        window=window,
        step=step,
        start=start,
        end=end,
        series=[_series(code, limits.get(code), points.get(code, [])) for code in wanted][
            :MAX_SERIES
        ],
    )


def _series(code: str, limit: Any, points: list[Point]) -> Series:
    if limit is None:
        return Series(code, None, None, None, None, points)
    return Series(
        code,
        limit["pollutant_name"],
        limit["concentration_unit"],
        limit["concentration_limit"],
        limit["special_limit"],
        points,
    )


def monitoring_summary(session: Session, *, county: str | None) -> list[dict[str, Any]]:
    """Per county (of the outlets' units): outlets, monitored, online (monitored and not
    offline), and how many are exceeding, abnormal, offline, not monitored now. Each outlet
    counts once, under its live status (offline > exceedance > abnormal > normal), as the map
    colours it."""
    if county is not None and not COUNTY_CODE.match(county):
        raise QueryError("county is a 6-digit region code", field="county", value=county)
    rows = session.execute(text(_SUMMARY), {"county": county}).mappings()
    return [dict(row) for row in rows]


def public_daily_averages(
    session: Session, *, credit_code: str, site: int | None, today: date
) -> dict[str, Any]:
    """The daily averages a key unit (重点排污单位) discloses: for the `PUBLIC_DAYS` complete
    days before `today`, per outlet (code, kind, medium) and permitted pollutant (name, limit,
    unit), each day's average. Only outlet/pollutant pairs with at least one day are listed.
    Raises NotFoundError for an unknown credit code or site, and for a unit that is not key
    (only key units disclose online monitoring data)."""
    code = credit_code.strip().upper()
    unit = None
    if is_well_formed(code):
        unit = session.execute(text(_UNIT), {"code": code, "site": site}).mappings().first()
    if unit is None:
        raise NotFoundError(f"no unit with credit code {credit_code!r} and site {site}")
    if unit["category"] != "key":
        raise NotFoundError(
            "online monitoring data are disclosed for key units (重点排污单位) only",
            detail=f"unit {unit['id']} is {unit['category']}",
        )
    end = datetime.combine(today, time(0), CHINA)
    start = end - timedelta(days=PUBLIC_DAYS)
    params = {"unit": unit["id"], "start": start, "end": end, "now": end, "codes": None}
    rows = session.execute(
        text(_PUBLIC.format(points=_points_sql("day", _UNIT_OUTLETS))),
        {**params, "valid_flags": list(VALID_FLAGS)},
    ).mappings()
    outlets: dict[int, dict[str, Any]] = {}
    for row in rows:
        outlet = outlets.setdefault(
            row["outlet_id"], {c: row[c] for c in PUBLIC_OUTLET_COLUMNS} | {"pollutants": {}}
        )
        pollutant = outlet["pollutants"].setdefault(
            row["pollutant_code"], {c: row[c] for c in PUBLIC_POLLUTANT_COLUMNS} | {"daily": []}
        )
        pollutant["daily"].append(
            {"date": row["t"].astimezone(CHINA).date(), "value": row["value"]}
        )
    return {
        "credit_code": code,
        "site": unit["site_seq"],
        "start": start.date(),
        "end": (end - timedelta(days=1)).date(),
        "outlets": [
            {
                **{c: o[c] for c in PUBLIC_OUTLET_COLUMNS},
                "pollutants": list(o["pollutants"].values()),
            }
            for o in outlets.values()
        ],
    }


_OUTLET = """
SELECT o.id, o.code, s.live_status,
       EXISTS (SELECT 1 FROM monitoring_devices d WHERE d.outlet_id = o.id AND d.active)
         AS monitored
FROM outlets o JOIN outlet_monitoring_status s ON s.outlet_id = o.id
WHERE o.id = :outlet
"""
_LIMITS = """
SELECT pollutant_code, pollutant_name, concentration_unit,
       concentration_limit::float8 AS concentration_limit, special_limit::float8 AS special_limit
FROM outlet_pollutants WHERE outlet_id = :outlet ORDER BY pollutant_code
"""
# Points of the outlets `{outlets}` (a bound parameter or a subquery) per pollutant, for data
# times in [:start, :end) and not after :now; :codes (text[]) or NULL for every pollutant.
# Hourly points: 2061, else the mean of 2051, else of 2011 values.
_HOURS = """
WITH raw AS (
  SELECT outlet_id, pollutant_code, cn, data_time, value
  FROM readings
  WHERE outlet_id IN ({outlets}) AND data_time >= :start AND data_time < :end
    AND data_time <= :now AND cn IN (2011, 2051, 2061, 2031) AND value IS NOT NULL
    AND (flag IS NULL OR flag = ANY(CAST(:valid_flags AS text[])))
    AND (CAST(:codes AS text[]) IS NULL OR pollutant_code = ANY(CAST(:codes AS text[])))
), by_cn AS (
  SELECT outlet_id, pollutant_code, date_trunc('hour', data_time, 'Asia/Shanghai') AS t, cn,
         avg(value) AS value
  FROM raw WHERE cn <> 2031 GROUP BY 1, 2, 3, 4
), hours AS (
  SELECT DISTINCT ON (outlet_id, pollutant_code, t) outlet_id, pollutant_code, t, cn, value
  FROM by_cn
  ORDER BY outlet_id, pollutant_code, t, array_position(ARRAY[2061, 2051, 2011], cn::int)
)"""
# Daily points: 2031, else the mean of the day's hourly points.
_DAYS = """, days AS (
  SELECT outlet_id, pollutant_code, date_trunc('day', t, 'Asia/Shanghai') AS t, 2061 AS cn,
         avg(value) AS value
  FROM hours GROUP BY 1, 2, 3
  UNION ALL
  SELECT outlet_id, pollutant_code, date_trunc('day', data_time, 'Asia/Shanghai'), 2031,
         avg(value)
  FROM raw WHERE cn = 2031 GROUP BY 1, 2, 3
), points AS (
  SELECT DISTINCT ON (outlet_id, pollutant_code, t) outlet_id, pollutant_code, t, cn, value
  FROM days ORDER BY outlet_id, pollutant_code, t, cn = 2031 DESC
)"""
_POINTS = """
SELECT outlet_id, pollutant_code, t, cn, value FROM {source} ORDER BY outlet_id, pollutant_code, t
"""


def _points_sql(step: str, outlets: str) -> str:
    """The statement of hourly or daily points (`step` from WINDOWS, never from a request)."""
    if step == "hour":
        return _HOURS.format(outlets=outlets) + _POINTS.format(source="hours")
    return _HOURS.format(outlets=outlets) + _DAYS + _POINTS.format(source="points")


_UNIT = """
SELECT id, site_seq, category::text AS category FROM units
WHERE credit_code = :code
  AND site_seq = coalesce(CAST(:site AS integer),
                          (SELECT min(site_seq) FROM units WHERE credit_code = :code))
"""
_UNIT_OUTLETS = "SELECT id FROM outlets WHERE unit_id = :unit"
# The public columns only: the outlet's public fields and the permitted pollutant's limit; a
# pollutant without a permitted limit (flow, temperature…) is not disclosed.
_PUBLIC = """
SELECT s.outlet_id, o.code, o.kind::text AS kind, o.medium::text AS medium,
       s.pollutant_code, p.pollutant_name, p.concentration_limit::float8 AS concentration_limit,
       p.concentration_unit, s.t, s.value
FROM ({points}) s
JOIN outlets o ON o.id = s.outlet_id
JOIN outlet_pollutants p ON p.outlet_id = s.outlet_id AND p.pollutant_code = s.pollutant_code
ORDER BY o.code, s.outlet_id, s.pollutant_code, s.t
"""
_SUMMARY = """
SELECT u.county_code, r.name AS county_name, count(*) AS outlets,
       count(*) FILTER (WHERE s.live_status <> 'not_monitored') AS monitored,
       count(*) FILTER (WHERE s.live_status IN ('normal', 'exceedance', 'abnormal')) AS online,
       count(*) FILTER (WHERE s.live_status = 'exceedance') AS exceeding,
       count(*) FILTER (WHERE s.live_status = 'abnormal') AS abnormal,
       count(*) FILTER (WHERE s.live_status = 'offline') AS offline,
       count(*) FILTER (WHERE s.live_status = 'not_monitored') AS not_monitored
FROM outlet_monitoring_status s
JOIN outlets o ON o.id = s.outlet_id
JOIN units u ON u.id = o.unit_id
LEFT JOIN admin_regions r ON r.code = u.county_code
WHERE CAST(:county AS text) IS NULL OR u.county_code = :county
GROUP BY u.county_code, r.name
ORDER BY u.county_code
"""

"""Checks of readings against the permit (exceedance): the effective concentration limit, the
hourly and daily averages against it, and the year's quantity against the annual limit.

Each function returns the SQL of a SELECT of *evaluations* (see `geo.monitoring.checks`): one
row per outlet, pollutant, rule and data time, `bad` when over the limit. Only pollutants the
outlet is permitted for are checked, and only values whose data flag is normal (N, or none):
a value flagged as maintenance, calibration, fault… is not a measurement of the discharge (the
abnormal-data rules report it instead).

Effective limit: the outlet pollutant's `special_limit` when it has one and a special period
(重污染天气应急…) covering the data's date in China is declared for the unit's county or for the
whole province (`county_code` NULL); else its `concentration_limit`.

Units: HJ 212-2017 sends a day's discharged quantity (CN 2031 `Cou`) in kg for the pollutants
that carry annual limits in a permit (COD, ammonia nitrogen, total nitrogen and phosphorus,
SO2, NOx, particulates: Annex B of the standard); the year's sum is divided by 1000 and compared
with `annual_limit_t` (tonnes).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

TZ = "'Asia/Shanghai'"
CN_REALTIME, CN_MINUTE, CN_HOUR, CN_DAY = 2011, 2051, 2061, 2031
MINUTES_FOR_AN_HOUR = 45  # HJ 75-2017: an hourly mean needs ≥ 45 minutes of valid data
KG_PER_TONNE = 1000.0
NORMAL = "coalesce({t}.flag, 'N') = 'N'"


def normal(alias: str) -> str:
    """SQL: the reading under `alias` carries the normal data flag (or none)."""
    return NORMAL.format(t=alias)


def limit_sql(day: str) -> str:
    """A LATERAL subquery (columns `lim`, `special`) of the effective limit on `day` (a SQL
    date) for the outlet pollutant `op` of the unit `u`."""
    return f"""
    LATERAL (
      SELECT CASE WHEN s.special THEN op.special_limit ELSE op.concentration_limit END::float8
               AS lim, s.special
      FROM (SELECT op.special_limit IS NOT NULL AND EXISTS (
              SELECT 1 FROM special_periods sp
              WHERE (sp.county_code IS NULL OR sp.county_code = u.county_code)
                AND {day} BETWEEN sp.starts_on AND sp.ends_on) AS special) s
    )"""


def _permitted(alias: str) -> str:
    """Joins from a row `alias` (outlet_id, pollutant_code) to its permitted pollutant and unit."""
    return f"""
    JOIN outlet_pollutants op
      ON op.outlet_id = {alias}.outlet_id AND op.pollutant_code = {alias}.pollutant_code
    JOIN outlets o ON o.id = {alias}.outlet_id
    JOIN units u ON u.id = o.unit_id"""


SPECIAL_NOTE = "CASE WHEN l.special THEN 'special-period limit' END"


def averages_sql() -> str:
    """Hourly (CN 2061) and daily (CN 2031) averages of the batch against the limit."""
    return f"""
    SELECT b.outlet_id, b.pollutant_code, 'exceedance' AS kind,
           CASE b.cn WHEN {CN_HOUR} THEN 'hourly_average' ELSE 'daily_average' END AS rule,
           b.data_time, b.value > l.lim AS bad, b.value, l.lim AS limit_value,
           {SPECIAL_NOTE} AS note
    FROM monitor_batch b {_permitted("b")}
    CROSS JOIN {limit_sql(f"(b.data_time AT TIME ZONE {TZ})::date")} l
    WHERE b.cn IN ({CN_HOUR}, {CN_DAY}) AND b.value IS NOT NULL AND {normal("b")}"""


def minute_hours_sql() -> str:
    """Clock hours (China time) of minute data (CN 2051) against the limit, judged when the hour
    is complete: the batch brings its last slot (at the device's interval, 60 s when unknown),
    or the first slot of the next hour when the last one never came, or data of an hour already
    over (a backlog). The hour's mean of its normal-flag values counts when they cover ≥ 45
    minutes. Param: `now`."""
    return f"""
    WITH touched AS (
      SELECT b.outlet_id, b.pollutant_code, date_trunc('hour', b.data_time, {TZ}) AS hour,
             min(b.data_time) AS first_t, max(b.data_time) AS last_t
      FROM monitor_batch b
      WHERE b.cn = {CN_MINUTE}
        AND EXISTS (SELECT 1 FROM outlet_pollutants op WHERE op.outlet_id = b.outlet_id
                    AND op.pollutant_code = b.pollutant_code)
      GROUP BY 1, 2, 3
    ), timed AS (
      SELECT t.*, coalesce((SELECT min(d.interval_s) FROM monitoring_devices d
                            WHERE d.outlet_id = t.outlet_id AND d.active), 60) AS step_s
      FROM touched t
    ), hours AS (
      SELECT outlet_id, pollutant_code, hour, step_s FROM timed
      WHERE last_t >= hour + interval '1 hour' - make_interval(secs => step_s)
         OR hour + interval '1 hour' <= CAST(:now AS timestamptz)
      UNION
      SELECT outlet_id, pollutant_code, hour - interval '1 hour', step_s FROM timed t
      WHERE first_t < hour + make_interval(secs => step_s)
        AND NOT EXISTS (  -- its last slot came: it was judged then
          SELECT 1 FROM readings r
          WHERE r.outlet_id = t.outlet_id AND r.pollutant_code = t.pollutant_code
            AND r.cn = {CN_MINUTE} AND r.data_time < t.hour
            AND r.data_time >= t.hour - make_interval(secs => t.step_s))
    )
    SELECT h.outlet_id, h.pollutant_code, 'exceedance' AS kind, 'hourly_average' AS rule,
           h.hour AS data_time, a.mean > l.lim AS bad, a.mean AS value, l.lim AS limit_value,
           concat_ws('; ', 'from minute data', {SPECIAL_NOTE}) AS note
    FROM hours h
    CROSS JOIN LATERAL (
      SELECT avg(r.value) AS mean, count(*) AS n FROM readings r
      WHERE r.outlet_id = h.outlet_id AND r.pollutant_code = h.pollutant_code
        AND r.cn = {CN_MINUTE} AND r.data_time >= h.hour
        AND r.data_time < h.hour + interval '1 hour'
        AND r.value IS NOT NULL AND {normal("r")}
    ) a {_permitted("h")}
    CROSS JOIN {limit_sql(f"(h.hour AT TIME ZONE {TZ})::date")} l
    WHERE a.n * h.step_s >= {MINUTES_FOR_AN_HOUR * 60}"""


def annual_quantity_sql() -> str:
    """For each day (CN 2031) of the batch with a quantity: the year's quantity up to that day
    (China calendar year, all stored days) against the annual limit, in tonnes."""
    return f"""
    SELECT b.outlet_id, b.pollutant_code, 'exceedance' AS kind, 'annual_quantity' AS rule,
           b.data_time, s.total_t > op.annual_limit_t AS bad, s.total_t AS value,
           op.annual_limit_t::float8 AS limit_value,
           'total of ' || extract(year FROM b.data_time AT TIME ZONE {TZ}) || ', t' AS note
    FROM monitor_batch b {_permitted("b")}
    CROSS JOIN LATERAL (
      SELECT sum(r.cou) / {KG_PER_TONNE} AS total_t FROM readings r
      WHERE r.outlet_id = b.outlet_id AND r.pollutant_code = b.pollutant_code
        AND r.cn = {CN_DAY} AND r.data_time >= date_trunc('year', b.data_time, {TZ})
        AND r.data_time <= b.data_time
    ) s
    WHERE b.cn = {CN_DAY} AND b.cou IS NOT NULL AND op.annual_limit_t IS NOT NULL"""


def effective_limit(
    session: Session, *, outlet_id: int, pollutant_code: str, on: date
) -> float | None:
    """The concentration limit in force for an outlet's pollutant on a day (China date): the
    special limit during a special period, else the permitted one; None when not permitted."""
    return session.execute(
        text(f"""
        SELECT l.lim FROM (SELECT CAST(:outlet AS bigint) AS outlet_id,
                                  CAST(:code AS text) AS pollutant_code) k
        {_permitted("k")}
        CROSS JOIN {limit_sql("CAST(:on AS date)")} l
    """),
        {"outlet": outlet_id, "code": pollutant_code, "on": on},
    ).scalar_one_or_none()

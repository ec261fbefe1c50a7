"""Checks of new readings against permit limits and abnormal-data rules, opening and closing
monitoring events.

`run_checks` reads the batch `store_readings` left in `monitor_batch` (its new rows only, so a
repeated packet is never counted twice) and judges it in a few set-based statements. Each rule
gives *evaluations* (outlet, pollutant, rule, data time, bad or good, value, limit); the event
lifecycle (`geo.monitoring.lifecycle`) turns them into events with start, end and peak.

Rules (`kind` / `rule` of the event):

- exceedance / `hourly_average`: a CN 2061 hourly Avg above the effective limit; and the mean
  of a clock hour (China time) of CN 2051 minute values, judged once the hour is complete and
  its normal-flag values cover ≥ 45 minutes (HJ 75-2017's validity rule for an hourly mean; at
  the usual 1-minute interval, ≥ 45 values). Both are points at the hour's start.
- exceedance / `daily_average`: a CN 2031 daily Avg above the effective limit.
- exceedance / `annual_quantity`: the calendar year's sum of CN 2031 `Cou` (kg) up to the day,
  in tonnes, above `annual_limit_t`; it closes when a day of the next year is under it.
  Effective limit, units and which values count: `geo.monitoring.limits`.
- abnormal / `device_flag`, `zero_or_negative`, `out_of_range`, `constant`: every command and
  pollutant, limits or not (`geo.monitoring.abnormal`); thresholds per pollutant in
  `monitoring_thresholds`.
- offline / `missing`: `sweep_offline` (run periodically) opens it for an active device whose
  last packet (or registration, never heard from) is older than `interval_s` ×
  `offline_intervals`, started one interval after it; data from the device closes it
  (`geo.monitoring.devices.touch_devices` at once, else the next sweep). One open offline
  event per outlet: with two silent devices it names the first.

An event stays open until a later good value of the same outlet, pollutant and rule. The
receiver calls `touch_devices` and `run_checks` in the batch's transaction.

Cost: the batch's rows are read once per rule family; history is read through `ux_readings`
only where a rule needs it (the value before a row for `constant`, a complete hour for minute
means, the year's days for a daily quantity). Only bad evaluations and the good ones of rules
that are bad or have an open event reach the lifecycle, so a clean batch writes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.monitoring.abnormal import abnormal_sql
from geo.monitoring.lifecycle import CheckSummary, add_evaluations, apply_evaluations, prepare
from geo.monitoring.limits import annual_quantity_sql, averages_sql, minute_hours_sql

__all__ = ["CheckSummary", "run_checks", "sweep_offline"]


def run_checks(session: Session, *, now: datetime) -> CheckSummary:
    """Check the rows of `monitor_batch` (the batch just stored, see geo.monitoring.readings)."""
    prepare(session)
    kept = 0
    for select_sql in (averages_sql(), minute_hours_sql(), annual_quantity_sql(), abnormal_sql()):
        kept += add_evaluations(session, select_sql, {"now": now})
    return apply_evaluations(session) if kept else CheckSummary()


SILENT_AFTER = "make_interval(secs => d.interval_s * d.offline_intervals)"

CLOSE_OFFLINE_SQL = """
UPDATE monitoring_events e
SET ended_at = CASE WHEN d.active AND d.outlet_id = e.outlet_id
                    THEN greatest(d.last_seen, e.started_at)
                    ELSE greatest(CAST(:now AS timestamptz), e.started_at) END,
    detail = concat_ws('; ', e.detail, CASE WHEN NOT d.active THEN 'device deactivated'
                                            WHEN d.outlet_id <> e.outlet_id
                                            THEN 'device moved to another outlet' END)
FROM monitoring_devices d
WHERE e.kind = 'offline' AND e.ended_at IS NULL AND d.mn = e.mn
  AND (NOT d.active OR d.outlet_id <> e.outlet_id OR d.last_seen >= e.started_at)
RETURNING e.id
"""

OPEN_OFFLINE_SQL = f"""
INSERT INTO monitoring_events (outlet_id, mn, pollutant_code, kind, rule, started_at, detail)
SELECT d.outlet_id, d.mn, NULL, 'offline', 'missing',
       coalesce(d.last_seen, d.registered_at) + make_interval(secs => d.interval_s),
       'no data from ' || d.mn || CASE WHEN d.last_seen IS NULL THEN ' since registration'
                                       ELSE '' END
FROM monitoring_devices d
WHERE d.active AND coalesce(d.last_seen, d.registered_at) < CAST(:now AS timestamptz)
                                                            - {SILENT_AFTER}
ORDER BY d.outlet_id, d.mn
ON CONFLICT (outlet_id, coalesce(pollutant_code, ''), rule) WHERE ended_at IS NULL DO NOTHING
RETURNING id
"""


def sweep_offline(session: Session, *, now: datetime) -> CheckSummary:
    """Open `offline` events for devices silent too long; close them when data came back (or the
    device was deactivated or moved)."""
    closed = session.execute(text(CLOSE_OFFLINE_SQL), {"now": now}).scalars().all()
    opened = session.execute(text(OPEN_OFFLINE_SQL), {"now": now}).scalars().all()
    return CheckSummary(opened=list(opened), closed=list(closed))

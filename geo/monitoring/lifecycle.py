"""From evaluations to events: the lifecycle of exceedance and abnormal-data events.

The checks leave their evaluations in the temporary table `monitor_eval`: per outlet, pollutant,
rule and data time, whether the value was bad, the value, the limit and a note. For each
(outlet, pollutant, rule), in data-time order:

- evaluations at the same data time are one point, bad if any is (its peak the worst of them);
- a *boundary* is a good point later than the start of the open event (any good point when
  there is none). A good point earlier than that start (data arriving late) closes nothing;
- the bad points before the first boundary continue the open event: its start moves back if
  they are earlier, its peak rises if one is worse (`peak_value`, `peak_at`, `limit_value`);
- the first boundary closes the open event (`ended_at` = its data time);
- bad points after a boundary form new events: each run of bad points is one event from its
  first point, closed at the next boundary, or left open when none follows (at most one per
  outlet, pollutant and rule is open: the insert is an upsert on that partial unique index);
- a bad point inside an event already closed (same rule, started at or before it, ended after
  it) was recorded already and is dropped, so judging an hour again does not open it again.

The worst point: the highest value for exceedances, the lowest for zero or negative values, the
farthest from the bound crossed for a range, the first one for flags and constant values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

EVAL_COLUMNS = (
    "outlet_id bigint, pollutant_code text, kind text, rule text, data_time timestamptz,"
    " bad boolean, value float8, limit_value float8, note text"
)
POINT_COLUMNS = EVAL_COLUMNS + ", open_id bigint, boundary boolean, seg bigint"
KEY = "outlet_id, pollutant_code, rule"


@dataclass
class CheckSummary:
    """What a check run did: ids of the events it opened and closed."""

    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def severity(value: str, limit: str, of: str = "") -> str:
    """SQL: how bad a point is (higher is worse), from its rule (`{of}kind`, `{of}rule`)."""
    return f"""CASE WHEN {of}kind = 'exceedance' THEN {value}
                    WHEN {of}rule = 'zero_or_negative' THEN -{value}
                    WHEN {of}rule = 'out_of_range' THEN abs({value} - {limit})
                    ELSE 0 END"""


def prepare(session: Session) -> None:
    """Create (once per connection) and empty the temporary tables of a check run."""
    for table, columns in (("monitor_eval", EVAL_COLUMNS), ("monitor_points", POINT_COLUMNS)):
        session.execute(
            text(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns}) ON COMMIT DELETE ROWS")
        )
        session.execute(text(f"TRUNCATE {table}"))


def add_evaluations(session: Session, select_sql: str, params: dict[str, object]) -> int:
    """Keep the evaluations of `select_sql` that may matter: the bad ones, and the good ones of
    a rule that is bad in the same SELECT or has an open event. Returns how many were kept."""
    return session.execute(
        text(f"""
        INSERT INTO monitor_eval
        WITH ev AS MATERIALIZED ({select_sql}),
        bad_keys AS (SELECT DISTINCT {KEY} FROM ev WHERE bad)
        SELECT outlet_id, pollutant_code, kind, rule, data_time, bad, value, limit_value, note
        FROM ev
        WHERE bad OR ({KEY}) IN (SELECT {KEY} FROM bad_keys)
           OR ({KEY}) IN (SELECT outlet_id, coalesce(pollutant_code, ''), rule
                          FROM monitoring_events WHERE ended_at IS NULL)
    """),
        params,
    ).rowcount


POINTS_SQL = f"""
INSERT INTO monitor_points
WITH points AS (
  SELECT outlet_id, pollutant_code, kind, rule, data_time, bool_or(bad) AS bad,
         (array_agg(value ORDER BY {severity("value", "limit_value")} DESC)
            FILTER (WHERE bad))[1] AS value,
         (array_agg(limit_value ORDER BY {severity("value", "limit_value")} DESC)
            FILTER (WHERE bad))[1] AS limit_value,
         string_agg(DISTINCT note, '; ') FILTER (WHERE bad) AS note
  FROM monitor_eval GROUP BY outlet_id, pollutant_code, kind, rule, data_time
), keyed AS (
  SELECT p.*, e.id AS open_id, e.started_at AS open_start
  FROM points p
  LEFT JOIN monitoring_events e
    ON e.ended_at IS NULL AND e.outlet_id = p.outlet_id
   AND coalesce(e.pollutant_code, '') = p.pollutant_code AND e.rule = p.rule
  WHERE NOT (p.bad AND coalesce((
    SELECT c.ended_at > p.data_time FROM monitoring_events c
    WHERE c.outlet_id = p.outlet_id AND coalesce(c.pollutant_code, '') = p.pollutant_code
      AND c.rule = p.rule AND c.started_at <= p.data_time
    ORDER BY c.started_at DESC LIMIT 1), false))
), marked AS (
  SELECT k.*, NOT k.bad AND (k.open_id IS NULL OR k.data_time > k.open_start) AS boundary
  FROM keyed k
)
SELECT outlet_id, pollutant_code, kind, rule, data_time, bad, value, limit_value, note, open_id,
       boundary,
       count(*) FILTER (WHERE boundary) OVER (PARTITION BY {KEY} ORDER BY data_time) AS seg
FROM marked
"""

# runs of bad points (seg = boundaries before them), with their end (the next boundary)
RUNS_SQL = f"""
  SELECT r.*, b.data_time AS ended_at
  FROM (
    SELECT outlet_id, pollutant_code, kind, rule, seg, min(open_id) AS open_id,
           min(data_time) AS started_at,
           (array_agg(value ORDER BY {severity("value", "limit_value")} DESC, data_time))[1]
             AS peak_value,
           (array_agg(data_time ORDER BY {severity("value", "limit_value")} DESC, data_time))[1]
             AS peak_at,
           (array_agg(limit_value ORDER BY {severity("value", "limit_value")} DESC, data_time))[1]
             AS limit_value,
           string_agg(DISTINCT note, '; ') AS detail
    FROM monitor_points WHERE bad
    GROUP BY outlet_id, pollutant_code, kind, rule, seg
  ) r
  LEFT JOIN monitor_points b
    ON b.boundary AND b.seg = r.seg + 1 AND (b.outlet_id, b.pollutant_code, b.rule)
       = (r.outlet_id, r.pollutant_code, r.rule)
"""


def better(new: str) -> str:
    """SQL: the peak of `new` (x or excluded) is worse than the event `e`'s."""
    return (
        f"{new}.peak_at IS NOT NULL AND (e.peak_at IS NULL OR"
        f" {severity(f'{new}.peak_value', f'{new}.limit_value', 'e.')}"
        f" > {severity('e.peak_value', 'e.limit_value', 'e.')})"
    )


BETTER = better("x")
UPSERT_BETTER = better("excluded")
MERGED_DETAIL = """(SELECT string_agg(DISTINCT d, '; ') FROM unnest(
    string_to_array(e.detail, '; ') || string_to_array(x.detail, '; ')) d)"""

# the open events: continued by the bad points before the first boundary, closed by it
UPDATE_SQL = f"""
WITH firsts AS (
  SELECT {KEY}, min(data_time) AS closed_at FROM monitor_points WHERE boundary GROUP BY {KEY}
), x AS (
  SELECT o.open_id, r.started_at, r.peak_value, r.peak_at, r.limit_value, r.detail,
         f.closed_at
  FROM (SELECT DISTINCT {KEY}, open_id FROM monitor_points WHERE open_id IS NOT NULL) o
  LEFT JOIN ({RUNS_SQL}) r
    ON r.seg = 0 AND (r.outlet_id, r.pollutant_code, r.rule) = (o.outlet_id, o.pollutant_code,
                                                                o.rule)
  LEFT JOIN firsts f
    ON (f.outlet_id, f.pollutant_code, f.rule) = (o.outlet_id, o.pollutant_code, o.rule)
)
UPDATE monitoring_events e
SET started_at = least(e.started_at, x.started_at),
    peak_value = CASE WHEN {BETTER} THEN x.peak_value ELSE e.peak_value END,
    peak_at = CASE WHEN {BETTER} THEN x.peak_at ELSE e.peak_at END,
    limit_value = CASE WHEN {BETTER} THEN x.limit_value ELSE e.limit_value END,
    detail = {MERGED_DETAIL},
    ended_at = x.closed_at
FROM x
WHERE e.id = x.open_id AND e.ended_at IS NULL
  AND (x.closed_at IS NOT NULL OR x.started_at < e.started_at OR {BETTER}
       OR {MERGED_DETAIL} IS DISTINCT FROM e.detail)
RETURNING e.id, e.ended_at IS NOT NULL AS closed
"""

# new events: runs after a boundary, or the first run when nothing was open
INSERT_SQL = f"""
INSERT INTO monitoring_events AS e (outlet_id, mn, pollutant_code, kind, rule, started_at,
                                    ended_at, peak_value, peak_at, limit_value, detail)
SELECT x.outlet_id,
       (SELECT d.mn FROM monitoring_devices d WHERE d.outlet_id = x.outlet_id AND d.active
        ORDER BY d.mn LIMIT 1),
       x.pollutant_code, x.kind, x.rule, x.started_at, x.ended_at, x.peak_value, x.peak_at,
       x.limit_value, x.detail
FROM ({RUNS_SQL}) x
WHERE x.seg > 0 OR x.open_id IS NULL
ORDER BY x.outlet_id, x.pollutant_code, x.rule, x.started_at
ON CONFLICT (outlet_id, coalesce(pollutant_code, ''), rule) WHERE ended_at IS NULL
DO UPDATE SET started_at = least(e.started_at, excluded.started_at),
    peak_value = CASE WHEN {UPSERT_BETTER} THEN excluded.peak_value
                      ELSE e.peak_value END,
    peak_at = CASE WHEN {UPSERT_BETTER} THEN excluded.peak_at
                   ELSE e.peak_at END,
    limit_value = CASE WHEN {UPSERT_BETTER} THEN excluded.limit_value
                       ELSE e.limit_value END
RETURNING e.id, e.xmax = 0 AS inserted, e.ended_at IS NOT NULL AS closed
"""


def apply_evaluations(session: Session) -> CheckSummary:
    """Open, continue and close events from the rows of `monitor_eval`."""
    summary = CheckSummary()
    session.execute(text(POINTS_SQL))
    for row in session.execute(text(UPDATE_SQL)):
        if row.closed:
            summary.closed.append(row.id)
    for row in session.execute(text(INSERT_SQL)):
        if row.inserted:
            summary.opened.append(row.id)
        if row.closed:
            summary.closed.append(row.id)
    return summary

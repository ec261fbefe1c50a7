"""Abnormal-data rules over the batch (every command, every pollutant, permitted or not).

- `device_flag`: the data flag is not N (HJ 212-2017: F stopped 停运, M maintenance 维护,
  S manually set 手工输入, D fault 故障, C calibration 校准, T over the upper range 超测上限,
  B communication abnormal 通讯异常; any other letter too). The event's detail lists the flags.
- `zero_or_negative`: a normal-flag value ≤ 0. A stopped source says so with flag F (that is a
  `device_flag` finding, not this one); a pollutant whose configured `range_min` is ≤ 0
  (temperatures, pressures) is exempt, its range rule decides.
- `out_of_range`: outside `monitoring_thresholds` range_min/range_max, when set; the event's
  `limit_value` is the bound crossed.
- `constant`: a normal-flag value equal to each of the values before it of the same command, N
  of them in a row (N = `constant_intervals`, default 10; only values within N × the command's
  longest plausible interval count). A value whose interval's Min is below its Max (minute and
  hourly data) moved, so is not constant without a look-up; otherwise the previous value is
  read first (index `ux_readings`), and only when it is equal the N values, so a live signal
  costs at most one probe.
"""

from __future__ import annotations

from geo.monitoring.limits import CN_DAY, CN_REALTIME, normal

FLAG_NAMES = {
    "F": "停运 stopped",
    "M": "维护 maintenance",
    "S": "手工输入 manually set",
    "D": "故障 fault",
    "C": "校准 calibration",
    "T": "超测上限 over range",
    "B": "通讯异常 communication abnormal",
}
DEFAULT_CONSTANT_INTERVALS = 10
# per command, the longest interval a device plausibly sends it at: bounds the look-back
SPAN = f"CASE r.cn WHEN {CN_REALTIME} THEN interval '10 minutes' WHEN {CN_DAY} THEN interval '1 day' ELSE interval '1 hour' END"  # noqa: E501


def _flag_note() -> str:
    names = " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in FLAG_NAMES.items())
    return f"'flag ' || r.f || coalesce(' ' || CASE r.f {names} END, '')"


def _same_command(bound: str) -> str:
    """Readings of the row's outlet, pollutant and command, newest first, within the look-back."""
    return f"""
      FROM readings p
      WHERE p.outlet_id = r.outlet_id AND p.pollutant_code = r.pollutant_code AND p.cn = r.cn
        AND p.data_time {bound} r.data_time AND p.data_time > r.data_time - r.n * {SPAN}
      ORDER BY p.data_time DESC"""


CONSTANT_SQL = f"""
  CASE WHEN NOT r.normal OR r.value IS NULL THEN NULL
       WHEN r.min < r.max THEN false
       WHEN (SELECT p.value {_same_command("<")} LIMIT 1) IS DISTINCT FROM r.value THEN false
       ELSE (SELECT count(*) = r.n AND bool_and(w.value = r.value)
             FROM (SELECT p.value {_same_command("<=")} LIMIT r.n) w)
  END"""

RANGE_SQL = """
  CASE WHEN r.value IS NOT NULL AND (r.range_min IS NOT NULL OR r.range_max IS NOT NULL)
       THEN coalesce(r.value < r.range_min, false) OR coalesce(r.value > r.range_max, false)
  END"""

# limit and note of a bad evaluation only (a good one needs neither)
LIMIT_SQL = """
  CASE WHEN x.bad AND x.rule = 'out_of_range'
       THEN CASE WHEN r.value > r.range_max THEN r.range_max ELSE r.range_min END END"""


def _note_sql() -> str:
    return f"""
  CASE WHEN x.bad THEN CASE x.rule
    WHEN 'device_flag' THEN {_flag_note()}
    WHEN 'out_of_range' THEN 'range ' || coalesce(r.range_min::text, '…') || ' to '
                             || coalesce(r.range_max::text, '…')
    WHEN 'constant' THEN r.n || ' identical values'
  END END"""


def abnormal_sql() -> str:
    """Evaluations of the four abnormal-data rules (a rule that does not apply to a row gives
    none), for the outlet pollutants that matter: one with a bad value in the batch or an open
    abnormal event (the good values of the others close nothing and open nothing)."""
    return f"""
    WITH judged AS MATERIALIZED (
      SELECT r.*, NOT r.normal AS flag_bad,
             CASE WHEN r.normal AND r.value IS NOT NULL AND NOT coalesce(r.range_min <= 0, false)
                  THEN r.value <= 0 END AS zero_bad,
             {RANGE_SQL} AS range_bad, {CONSTANT_SQL} AS constant_bad
      FROM (
        SELECT b.outlet_id, b.pollutant_code, b.cn, b.data_time, b.value, b.min, b.max,
               coalesce(b.flag, 'N') AS f, {normal("b")} AS normal, t.range_min, t.range_max,
               coalesce(t.constant_intervals, {DEFAULT_CONSTANT_INTERVALS}) AS n
        FROM monitor_batch b
        LEFT JOIN monitoring_thresholds t ON t.pollutant_code = b.pollutant_code
      ) r
    ), hot AS (
      SELECT outlet_id, pollutant_code FROM judged
      WHERE flag_bad OR zero_bad OR range_bad OR constant_bad
      UNION
      SELECT outlet_id, pollutant_code FROM monitoring_events
      WHERE ended_at IS NULL AND kind = 'abnormal'
    )
    SELECT r.outlet_id, r.pollutant_code, 'abnormal' AS kind, x.rule, r.data_time, x.bad,
           r.value, {LIMIT_SQL} AS limit_value, {_note_sql()} AS note
    FROM judged r
    JOIN hot h ON h.outlet_id = r.outlet_id AND h.pollutant_code = r.pollutant_code
    CROSS JOIN LATERAL (VALUES ('device_flag', r.flag_bad), ('zero_or_negative', r.zero_bad),
                               ('out_of_range', r.range_bad), ('constant', r.constant_bad)
    ) x(rule, bad)
    WHERE x.bad IS NOT NULL"""

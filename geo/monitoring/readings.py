"""Storing readings: a batch of values COPYed into a staging table, repeats dropped, the rest
inserted into the month-partitioned `readings` table.

After `store_readings` the temporary table `monitor_batch` holds exactly the batch's new rows
(not those stored before: a device re-sends a packet whose acknowledgement it did not get), for
the checks (`geo.monitoring.checks`) to read in the same transaction. Values whose data time is
implausible (before `earliest` or more than a day ahead of now) are not stored; the caller counts
them as rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import CHINA

BATCH_COLUMNS = (
    "outlet_id",
    "pollutant_code",
    "cn",
    "data_time",
    "value",
    "min",
    "max",
    "cou",
    "flag",
)
BATCH_TYPES = (
    "outlet_id bigint, pollutant_code text, cn smallint, data_time timestamptz, value float8,"
    " min float8, max float8, cou float8, flag text"
)
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class ReadingRow:
    """One pollutant's value in one packet: Rtd (real-time) or Avg (minute, hour, day) as
    `value`, with Min/Max/Cou when sent, and the device's data flag (N, F, M, …)."""

    outlet_id: int
    pollutant_code: str
    cn: int
    data_time: datetime
    value: float | None
    min: float | None = None
    max: float | None = None
    cou: float | None = None
    flag: str | None = None


@dataclass
class MonthRegistry:
    """The months whose partition exists (so a batch creates a partition only once)."""

    months: set[date]

    def missing(self, rows: Sequence[ReadingRow]) -> set[date]:
        """Months of `rows` without a known partition."""
        seen = {row.data_time.astimezone(CHINA).date().replace(day=1) for row in rows}
        return seen - self.months


def plausible(row: ReadingRow, *, now: datetime, earliest: datetime) -> bool:
    """Whether a row's data time may be stored (not before `earliest`, at most a day ahead)."""
    return earliest <= row.data_time <= now + FUTURE_SLACK


def store_readings(session: Session, rows: Sequence[ReadingRow], months: MonthRegistry) -> int:
    """Store the rows that are new; leave them in `monitor_batch`. Returns how many."""
    for month in sorted(months.missing(rows)):
        session.execute(text("SELECT monitoring_partition(:m)"), {"m": month})
        months.months.add(month)
    for table in ("monitor_incoming", "monitor_batch"):
        session.execute(
            text(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({BATCH_TYPES}) ON COMMIT DELETE ROWS")
        )
        session.execute(text(f"TRUNCATE {table}"))
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY monitor_incoming ({', '.join(BATCH_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                (
                    row.outlet_id,
                    row.pollutant_code,
                    row.cn,
                    row.data_time,
                    row.value,
                    row.min,
                    row.max,
                    row.cou,
                    row.flag,
                )
            )
    # a repeat within the batch keeps its first row; a repeat of a stored row is not inserted
    columns = ", ".join(BATCH_COLUMNS)
    return session.execute(
        text(
            f"WITH stored AS (INSERT INTO readings ({columns})"
            f" SELECT DISTINCT ON (outlet_id, pollutant_code, cn, data_time) {columns}"
            " FROM monitor_incoming ORDER BY outlet_id, pollutant_code, cn, data_time"
            f" ON CONFLICT DO NOTHING RETURNING {columns})"
            f" INSERT INTO monitor_batch ({columns}) SELECT {columns} FROM stored"
        )
    ).rowcount


def known_months(session: Session) -> MonthRegistry:
    """The months whose partition exists now."""
    names = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'readings'::regclass"
        )
    ).scalars()
    return MonthRegistry(
        {date(int(name[9:13]), int(name[13:15]), 1) for name in names if name[9:].isdigit()}
    )


def drop_partitions_before(session: Session, *, month: date) -> list[str]:
    """Retention: drop the partitions of months before `month`; returns their names."""
    registry = known_months(session)
    dropped = []
    for old in sorted(m for m in registry.months if m < month.replace(day=1)):
        name = f"readings_{old:%Y%m}"
        session.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        dropped.append(name)
    return dropped

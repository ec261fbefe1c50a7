"""Monthly permit reminders per county: permits already expired and expiring within 30, 60 or 90
days, and closed units still holding a permit (to cancel, 注销).

The list of a month is taken on its first day (`as_of`). A permit is listed while it is held
(status valid or expired: not revoked, cancelled or withdrawn) and not superseded by a later
valid permit of the same unit. Buckets by `days_left = valid_to − as_of` (valid_to is the last
valid day): expired < 0 ≤ within_30 ≤ 30 < within_60 ≤ 60 < within_90 ≤ 90. A closed unit's
held permits are listed once, as `closed_unit` (to cancel, not to renew), whatever their dates.
The JSON of a list is cached until permits, units or regions are written (their
`data_versions`): every county's staff read the same list each month.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import date

from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import QueryError
from geo.models import ManagementCategory

BUCKETS = ("expired", "within_30", "within_60", "within_90", "closed_unit")
BUCKET_TITLES = {
    "expired": "已过期",
    "within_30": "30日内到期",
    "within_60": "60日内到期",
    "within_90": "90日内到期",
    "closed_unit": "已关闭单位待注销",
}
HORIZON_DAYS = 90
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_COUNTY = re.compile(r"^\d{6}$")
_CATEGORIES = [c.value for c in ManagementCategory]  # lets the planner use (category, status)

# Plain joins and an anti-join, which the planner runs as a parallel nested loop over the
# (status, valid_to) index with primary-key lookups (~0.8 s for 92,000 reminders of 1,000,000
# permits on 2 cores); correlated LIMIT 1 lookups would be parallel-restricted (twice as slow).
# Codes sort bytewise (COLLATE "C": digits and capitals).
_REMINDERS_SQL = """
SELECT r.reminder, u.county_code, c.name AS county_name, r.permit_id, r.permit_no,
       r.kind::text AS kind, r.status::text AS permit_status, r.valid_to,
       r.valid_to - :as_of AS days_left, u.id AS unit_id, u.name AS unit_name, u.credit_code,
       u.category::text AS category, u.status::text AS operating_status
FROM (
  SELECT p.id AS permit_id, p.permit_no, p.kind, p.status, p.valid_to, p.unit_id,
         CASE WHEN p.valid_to < :as_of THEN 'expired'
              WHEN p.valid_to <= :as_of + 30 THEN 'within_30'
              WHEN p.valid_to <= :as_of + 60 THEN 'within_60'
              ELSE 'within_90' END AS reminder
  FROM permits p
  WHERE p.status IN ('valid', 'expired') AND p.valid_to <= :as_of + :horizon
    AND NOT EXISTS (  -- superseded by a later permit of the unit
      SELECT 1 FROM permits q
      WHERE q.unit_id = p.unit_id AND q.status = 'valid' AND q.valid_to > p.valid_to)
  UNION ALL
  SELECT p.id, p.permit_no, p.kind, p.status, p.valid_to, p.unit_id, 'closed_unit'
  FROM units cu JOIN permits p ON p.unit_id = cu.id
  WHERE cu.category = ANY(CAST(:categories AS management_category[])) AND cu.status = 'closed'
    AND p.status IN ('valid', 'expired')
) r
JOIN units u ON u.id = r.unit_id
LEFT JOIN admin_regions c ON c.code = u.county_code
WHERE (r.reminder = 'closed_unit') = (u.status = 'closed') {county}
ORDER BY u.county_code COLLATE "C", array_position(CAST(:buckets AS text[]), r.reminder),
         r.valid_to, r.permit_no COLLATE "C"
"""


@dataclass(frozen=True)
class Reminder:
    """One permit to act on."""

    reminder: str
    county_code: str
    county_name: str | None
    permit_id: int
    permit_no: str
    kind: str
    permit_status: str
    valid_to: date
    days_left: int
    unit_id: int
    unit_name: str
    credit_code: str
    category: str
    operating_status: str


@dataclass
class CountyReminders:
    """A county's reminders and their count per bucket."""

    county_code: str
    county_name: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    items: list[Reminder] = field(default_factory=list)


@dataclass(frozen=True)
class ReminderList:
    """The reminders of a month (all counties, or one)."""

    month: str
    as_of: date
    county: str | None
    totals: dict[str, int]
    counties: list[CountyReminders]

    def rows(self) -> list[Reminder]:
        """Every reminder, county by county."""
        return [item for county in self.counties for item in county.items]

    def to_json(self, *, indent: int | None = None) -> bytes:
        """The list as JSON (pydantic's serializer: ~0.1 s for 100,000 reminders)."""
        return TypeAdapter(ReminderList).dump_json(self, indent=indent)


def parse_month(value: str, *, field_name: str = "month") -> date:
    """`YYYY-MM` → the first day of that month."""
    match = _MONTH.match(value.strip())
    year, month = (int(match[1]), int(match[2])) if match else (0, 0)
    if not match or not 1 <= month <= 12 or year < 1900:
        message = f"{field_name} is a month written YYYY-MM, e.g. 2026-12"
        raise QueryError(message, field=field_name, value=value)
    return date(year, month, 1)


def check_county(value: str | None, *, field_name: str = "county") -> str | None:
    """A 6-digit county code, or None for every county."""
    if value is None or value == "":
        return None
    if not _COUNTY.match(value):
        message = f"{field_name} is a 6-digit county code"
        raise QueryError(message, field=field_name, value=value)
    return value


def monthly_reminders(session: Session, *, month: date, county: str | None = None) -> ReminderList:
    """The reminders of the month starting on `month` (a first day), per county."""
    as_of = month.replace(day=1)
    where_county = "AND u.county_code = :county" if county else ""
    statement = text(_REMINDERS_SQL.format(county=where_county))
    params = {
        "as_of": as_of,
        "horizon": HORIZON_DAYS,
        "categories": _CATEGORIES,
        "buckets": list(BUCKETS),
        "county": county,
    }
    counties: dict[str, CountyReminders] = {}
    for row in session.execute(statement, params):
        item = Reminder(*row)
        entry = counties.get(item.county_code)
        if entry is None:
            entry = counties[item.county_code] = CountyReminders(item.county_code, item.county_name)
        entry.items.append(item)
    totals: Counter[str] = Counter()
    for entry in counties.values():
        entry.counts |= Counter(item.reminder for item in entry.items)
        totals.update(entry.counts)
    return ReminderList(
        month=f"{as_of:%Y-%m}",
        as_of=as_of,
        county=county,
        totals={bucket: totals[bucket] for bucket in BUCKETS},
        counties=list(counties.values()),
    )


EXPORT_COLUMNS = (  # (attribute, Chinese title, English title)
    ("county_code", "区县代码", "county code"),
    ("county_name", "区县", "county"),
    ("reminder", "提醒", "reminder"),
    ("permit_no", "许可证编号", "permit number"),
    ("kind", "类型", "kind"),
    ("permit_status", "许可证状态", "permit status"),
    ("valid_to", "有效期至", "valid to"),
    ("days_left", "剩余天数", "days left"),
    ("unit_name", "单位名称", "unit"),
    ("credit_code", "统一社会信用代码", "credit code"),
    ("category", "管理类别", "category"),
    ("operating_status", "运营状态", "operating status"),
    ("permit_id", "许可证ID", "permit id"),
    ("unit_id", "单位ID", "unit id"),
)


def export_header(lang: str) -> list[str]:
    """Column titles of an export, in Chinese (zh) or English."""
    return [zh if lang == "zh" else en for _, zh, en in EXPORT_COLUMNS]


def export_rows(reminders: ReminderList, lang: str) -> list[tuple[object, ...]]:
    """The export's rows; in Chinese the bucket is written out (已过期, 30日内到期 …)."""
    rows = []
    for item in reminders.rows():
        values = [getattr(item, name) for name, _, _ in EXPORT_COLUMNS]
        if lang == "zh":
            values[2] = BUCKET_TITLES[item.reminder]
        rows.append(tuple(values))
    return rows


CACHE_SOURCES = ["admin_regions", "permits", "units"]


def data_stamp(session: Session) -> tuple[tuple[str, int], ...]:
    """The write counts of the tables a reminder list is built from (migration 0004)."""
    rows = session.execute(
        text("SELECT source, version FROM data_versions WHERE source = ANY(:s) ORDER BY source"),
        {"s": CACHE_SOURCES},
    )
    return tuple((source, version) for source, version in rows)


class ReminderCache:
    """The JSON of the last few lists asked for, each valid while its tables are unwritten."""

    def __init__(self, entries: int = 16) -> None:
        self._entries = entries
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def json(self, session: Session, *, month: date, county: str | None) -> bytes:
        """The list as JSON, from the cache when nothing it is built from was written since."""
        key = (month, county, data_stamp(session))
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
                return body
        body = monthly_reminders(session, month=month, county=county).to_json()
        with self._lock:
            self._items[key] = body
            while len(self._items) > self._entries:
                self._items.popitem(last=False)
        return body

"""Special periods (重污染天气应急… 特别排放时段) and outlets' special limits.

A special period is a declared date range, for one county or the whole province (no county),
during which an outlet pollutant's `special_limit` replaces its permitted concentration limit in
the checks (`geo.monitoring.limits`). Dates are China dates, both ends included. Ending a period
sets its last day (today by default): it can only be shortened, never moved past its start.
Every write goes to the audit log (the tables carry the audit triggers; the API names the actor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, ValidationError

NAME_MAX = 200
REASON_MAX = 2000
LONGEST_DAYS = 366

PERIOD_SQL = """
SELECT p.id, p.name, p.county_code, r.name AS county_name, p.starts_on, p.ends_on, p.reason,
       p.created_by, p.created_at
FROM special_periods p LEFT JOIN admin_regions r ON r.code = p.county_code
"""


@dataclass(frozen=True)
class SpecialPeriod:
    """A declared special period (no county: the whole province)."""

    id: int
    name: str
    county_code: str | None
    county_name: str | None
    starts_on: date
    ends_on: date
    reason: str | None
    created_by: str
    created_at: datetime

    def in_force(self, day: date) -> bool:
        """Whether the period covers `day`."""
        return self.starts_on <= day <= self.ends_on


def _period(session: Session, period_id: int) -> SpecialPeriod:
    row = session.execute(text(f"{PERIOD_SQL} WHERE p.id = :id"), {"id": period_id}).one_or_none()
    if row is None:
        raise NotFoundError(f"special period {period_id} does not exist")
    return SpecialPeriod(*row)


def _check_county(session: Session, county_code: str | None) -> None:
    if county_code is None:
        return
    level = session.execute(
        text("SELECT level::text FROM admin_regions WHERE code = :c"), {"c": county_code}
    ).scalar_one_or_none()
    if level != "county":
        message = f"{county_code} is not a county (leave it out for the whole province)"
        raise ValidationError(message, field="county_code", value=county_code)


def declare_special_period(
    session: Session,
    *,
    name: str,
    county_code: str | None,
    starts_on: date,
    ends_on: date,
    reason: str | None,
    created_by: str,
) -> SpecialPeriod:
    """Declare a special period for a county (or the province); ValidationError naming the field
    for an empty name, an unknown county, or dates out of order or over a year apart."""
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > NAME_MAX:
        raise ValidationError(f"a name of 1–{NAME_MAX} characters", field="name")
    if reason is not None and len(reason) > REASON_MAX:
        raise ValidationError(f"reason takes at most {REASON_MAX} characters", field="reason")
    _check_county(session, county_code)
    if ends_on < starts_on:
        raise ValidationError("the period ends before it starts", field="ends_on", value=ends_on)
    if (ends_on - starts_on).days >= LONGEST_DAYS:
        raise ValidationError("a special period lasts at most a year", field="ends_on")
    period_id = session.execute(
        text("""
        INSERT INTO special_periods (name, county_code, starts_on, ends_on, reason, created_by)
        VALUES (:name, :county, :starts, :ends, :reason, :by) RETURNING id
    """),
        {
            "name": cleaned,
            "county": county_code,
            "starts": starts_on,
            "ends": ends_on,
            "reason": (reason or "").strip() or None,
            "by": created_by,
        },
    ).scalar_one()
    return _period(session, period_id)


def list_special_periods(
    session: Session, *, county: str | None = None, active_on: date | None = None
) -> list[SpecialPeriod]:
    """Periods, latest start first: of `county` (its own and the province's), in force on
    `active_on`."""
    rows = session.execute(
        text(f"""
        {PERIOD_SQL}
        WHERE (CAST(:county AS text) IS NULL OR p.county_code IS NULL OR p.county_code = :county)
          AND (CAST(:day AS date) IS NULL OR CAST(:day AS date) BETWEEN p.starts_on AND p.ends_on)
        ORDER BY p.starts_on DESC, p.id DESC
    """),
        {"county": county, "day": active_on},
    ).all()
    return [SpecialPeriod(*row) for row in rows]


def end_special_period(session: Session, *, period_id: int, last_day: date) -> SpecialPeriod:
    """End a period on `last_day` (its last day in force). ConflictError when it already ends
    earlier; ValidationError when `last_day` is before its start."""
    period = _period(session, period_id)
    if period.ends_on < last_day:
        raise ConflictError(f"special period {period_id} already ends on {period.ends_on}")
    if last_day < period.starts_on:
        message = f"the period starts on {period.starts_on}: it cannot end before"
        raise ValidationError(message, field="last_day", value=last_day)
    session.execute(
        text("UPDATE special_periods SET ends_on = :day WHERE id = :id"),
        {"day": last_day, "id": period_id},
    )
    return _period(session, period_id)


@dataclass(frozen=True)
class OutletLimit:
    """An outlet pollutant's limits after a change."""

    outlet_id: int
    pollutant_code: str
    pollutant_name: str
    concentration_limit: float
    concentration_unit: str
    special_limit: float | None


def set_special_limit(
    session: Session, *, outlet_id: int, pollutant_code: str, special_limit: Decimal | None
) -> OutletLimit:
    """Set (or clear, with None) the special limit of an outlet's permitted pollutant: above 0
    and not above its permitted limit. NotFoundError when the outlet is not permitted for it."""
    current = session.execute(
        text("""
        SELECT concentration_limit FROM outlet_pollutants
        WHERE outlet_id = :o AND pollutant_code = :c FOR UPDATE
    """),
        {"o": outlet_id, "c": pollutant_code},
    ).scalar_one_or_none()
    if current is None:
        raise NotFoundError(f"outlet {outlet_id} has no permitted limit for {pollutant_code}")
    if special_limit is not None and not 0 < special_limit <= current:
        message = f"a special limit is above 0 and at most the permitted limit ({current})"
        raise ValidationError(message, field="special_limit", value=special_limit)
    row = session.execute(
        text("""
        UPDATE outlet_pollutants SET special_limit = :limit
        WHERE outlet_id = :o AND pollutant_code = :c
        RETURNING outlet_id, pollutant_code, pollutant_name, concentration_limit::float8,
                  concentration_unit, special_limit::float8
    """),
        {"limit": special_limit, "o": outlet_id, "c": pollutant_code},
    ).one()
    return OutletLimit(*row)

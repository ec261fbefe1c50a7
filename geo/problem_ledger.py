"""Reading the problem ledger: lists with filters, one problem with its events and evidence,
and the clear-to-zero (清零) dashboard per county. The writes are in geo/problems.py."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.errors import NotFoundError, QueryError
from geo.problem_rules import STATUSES, add_months

OVERDUE_SQL = "coalesce(p.deadline < :today AND p.status NOT IN ('verified', 'closed'), false)"
PROBLEM_SQL = f"""
SELECT p.id, p.source::text AS source, p.problem_type, p.unit_id, u.name AS unit_name,
       u.county_code, p.outlet_id, p.flag_id, p.finding, p.department, p.deadline,
       p.status::text AS status, p.version, p.opened_on, p.opened_by, p.closed_at,
       {OVERDUE_SQL} AS overdue
FROM problems p JOIN units u ON u.id = p.unit_id
"""
LIST_FILTERS = {
    "county": "u.county_code = :county",
    "status": "p.status::text = :status",
    "overdue": f"{OVERDUE_SQL} = :overdue",
    "unit_id": "p.unit_id = :unit_id",
}


@dataclass(frozen=True)
class ProblemPage:
    """One page of problems and how many match."""

    items: list[dict]
    total: int


def list_problems(
    session: Session, *, filters: dict[str, object], today: date, page: int, page_size: int
) -> ProblemPage:
    """Problems matching the filters (county, status, overdue, unit_id), soonest deadline first."""
    used = {k: v for k, v in filters.items() if v is not None}
    if "status" in used and used["status"] not in STATUSES:
        raise QueryError(f"status must be one of {', '.join(STATUSES)}", field="status")
    where = " AND ".join(LIST_FILTERS[k] for k in used) or "true"
    params = {**used, "today": today}
    total = session.execute(
        text(f"SELECT count(*) FROM problems p JOIN units u ON u.id = p.unit_id WHERE {where}"),
        params,
    ).scalar_one()
    rows = session.execute(
        text(
            f"{PROBLEM_SQL} WHERE {where} ORDER BY p.deadline NULLS LAST, p.id "
            "LIMIT :limit OFFSET :offset"
        ),
        {**params, "limit": page_size, "offset": (page - 1) * page_size},
    ).mappings()
    return ProblemPage([dict(r) for r in rows], total)


def get_problem(session: Session, *, problem_id: int, today: date) -> dict:
    """A problem with its events (oldest first); NotFoundError when there is none."""
    row = (
        session.execute(text(f"{PROBLEM_SQL} WHERE p.id = :id"), {"id": problem_id, "today": today})
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"problem {problem_id} does not exist")
    events = session.execute(
        text("""
        SELECT at, actor, event, from_status::text AS from_status, to_status::text AS to_status,
               version, note
        FROM problem_events WHERE problem_id = :id ORDER BY id
    """),
        {"id": problem_id},
    ).mappings()
    return {**row, "events": [dict(e) for e in events]}


def parse_month(value: str | None, *, today: date) -> date:
    """The first day of a `YYYY-MM` month (this month when not given)."""
    if value is None:
        return today.replace(day=1)
    match = re.fullmatch(r"(\d{4})-(\d{2})", value)
    if not match or not 1 <= int(match[2]) <= 12:
        raise QueryError("month is YYYY-MM, e.g. 2026-11", field="month", value=value)
    return date(int(match[1]), int(match[2]), 1)


def dashboard(session: Session, *, month: date, today: date) -> dict:
    """The clear-to-zero board (清零) per county: problems still on the ledger (not closed),
    overdue today, and closed (销号) during `month` (China time), with the total."""
    start = datetime(month.year, month.month, 1, tzinfo=CHINA)
    end = datetime.combine(add_months(month, 1), datetime.min.time(), tzinfo=CHINA)
    rows = session.execute(
        text(f"""
        WITH c AS (
          SELECT u.county_code,
                 count(*) FILTER (WHERE p.status <> 'closed') AS open,
                 count(*) FILTER (WHERE {OVERDUE_SQL}) AS overdue,
                 count(*) FILTER (WHERE p.closed_at >= :start AND p.closed_at < :end)
                   AS closed_this_month
          FROM problems p JOIN units u ON u.id = p.unit_id
          GROUP BY u.county_code
        )
        SELECT r.code AS county_code, r.name AS county_name, coalesce(c.open, 0) AS open,
               coalesce(c.overdue, 0) AS overdue,
               coalesce(c.closed_this_month, 0) AS closed_this_month
        FROM admin_regions r LEFT JOIN c ON c.county_code = r.code
        WHERE r.level = 'county' OR c.county_code IS NOT NULL
        ORDER BY r.code
    """),
        {"today": today, "start": start, "end": end},
    ).mappings()
    counties = [{**r, "cleared": r["open"] == 0} for r in rows]
    keys = ("open", "overdue", "closed_this_month")
    total = {k: sum(c[k] for c in counties) for k in keys}
    return {
        "month": f"{month:%Y-%m}",
        "as_of": today,
        "counties": counties,
        "total": {**total, "cleared": total["open"] == 0},
    }

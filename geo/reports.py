"""Execution reports (执行报告, 条例 Art. 22): the reports each permit holder owes, their due
dates, their submission, and the check that turns late or missing ones into problems.

What a permit owes in a year (set-based SQL, idempotent):

- Which permits: permits (not registrations, which file no reports) in status valid or expired
  whose validity overlaps the year.
- How often: the permit's `report_frequencies` (its 副本 sets them: data, not a rule); when the
  permit lists none, its unit's management category decides: key (重点) annual + quarterly,
  simplified (简化) annual, registration (登记) none. Other values (e.g. semiannual) are ignored.
- Periods: the calendar year, quarter, month. A period is owed only when the permit was held long
  enough in it (HJ 944-2018 practice): 3 months for a year, 1 month for a quarter, 10 days for a
  month; the fourth quarter's report is part of the annual one, and the March/June/September
  monthly reports are part of the quarterly one (December's of the annual), when those are owed.
- Due dates: quarterly by the 15th of the month after the quarter, monthly by the 15th of the
  next month; annual by 15 January of the next year for key units (the 火电 specification and the
  national platform's usual date) and by 31 January for the others (HJ 944-2018: 次年一月底前).

`check_reports` generates last year's and this year's reports, then opens one problem (source
'execution_report', through `geo.problems.open_problem`) for each report past its due date that
is missing, or was submitted late, and has no problem yet; the report keeps the problem's id, so
the check can run any number of times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, QueryError, ValidationError
from geo.problem_rules import add_months
from geo.problems import open_problem

KINDS = ("annual", "quarterly", "monthly")
KIND_ZH = {"annual": "年度", "quarterly": "季度", "monthly": "月度"}
MIN_YEAR, MAX_YEAR = 2015, 2100  # the permit system dates from 2016
RECTIFY_MONTHS = 3  # deadline to file a missing report: the shortest rectification period
_COLUMNS = """r.id, r.permit_id, p.permit_no, p.unit_id, u.name AS unit_name, u.county_code,
    u.category::text AS category, r.kind::text AS kind, r.period, r.period_start, r.period_end,
    r.due_on, r.submitted_on, r.submitted_by, r.problem_id, r.version"""

_GENERATE = """
WITH holders AS (
  SELECT p.id AS permit_id, p.valid_from, p.valid_to, u.category,
         CASE WHEN cardinality(p.report_frequencies) > 0 THEN p.report_frequencies
              WHEN u.category = 'key' THEN ARRAY['annual', 'quarterly']
              WHEN u.category = 'simplified' THEN ARRAY['annual']
              ELSE ARRAY[]::text[] END AS owed
  FROM permits p JOIN units u ON u.id = p.unit_id
  WHERE p.kind = 'permit' AND p.status IN ('valid', 'expired')
    AND p.valid_from <= make_date(:year, 12, 31) AND p.valid_to >= make_date(:year, 1, 1)
    AND (CAST(:permit AS bigint) IS NULL OR p.id = :permit)
), periods (kind, n, period, period_start, period_end, min_held) AS (
  SELECT 'annual', 1, :year::text, make_date(:year, 1, 1), make_date(:year, 12, 31),
         interval '3 months'
  UNION ALL
  SELECT 'quarterly', q, :year || 'Q' || q, make_date(:year, 3 * q - 2, 1),
         (make_date(:year, 3 * q - 2, 1) + interval '3 months' - interval '1 day')::date,
         interval '1 month'
  FROM generate_series(1, 4) AS q
  UNION ALL
  SELECT 'monthly', m, :year || '-' || lpad(m::text, 2, '0'), make_date(:year, m, 1),
         (make_date(:year, m, 1) + interval '1 month' - interval '1 day')::date,
         interval '10 days'
  FROM generate_series(1, 12) AS m
)
INSERT INTO execution_reports (permit_id, kind, period, period_start, period_end, due_on)
SELECT h.permit_id, CAST(pr.kind AS report_kind), pr.period, pr.period_start, pr.period_end,
       CASE WHEN pr.kind = 'annual' AND h.category = 'key' THEN make_date(:year + 1, 1, 15)
            WHEN pr.kind = 'annual' THEN make_date(:year + 1, 1, 31)
            ELSE pr.period_end + 15 END
FROM holders h JOIN periods pr ON pr.kind = ANY (h.owed)
WHERE greatest(h.valid_from, pr.period_start) + pr.min_held
        <= least(h.valid_to, pr.period_end) + 1
  AND NOT (pr.kind = 'quarterly' AND pr.n = 4 AND 'annual' = ANY (h.owed))
  AND NOT (pr.kind = 'monthly' AND pr.n IN (3, 6, 9) AND 'quarterly' = ANY (h.owed))
  AND NOT (pr.kind = 'monthly' AND pr.n = 12
           AND ('annual' = ANY (h.owed) OR 'quarterly' = ANY (h.owed)))
ON CONFLICT (permit_id, kind, period_start) DO NOTHING
""".replace(":year", "CAST(:year AS integer)")

_UNRESOLVED = """
SELECT r.id, r.kind::text AS kind, r.period, r.due_on, r.submitted_on, p.unit_id,
       p.permit_no, p.authority
FROM execution_reports r
JOIN permits p ON p.id = r.permit_id
JOIN units u ON u.id = p.unit_id
WHERE r.problem_id IS NULL AND r.due_on < :today
  AND (r.submitted_on IS NULL OR r.submitted_on > r.due_on)
  AND (CAST(:county AS text) IS NULL OR u.county_code = :county)
ORDER BY r.due_on, r.id
"""


@dataclass(frozen=True)
class CheckResult:
    """What one check did."""

    generated: int
    opened: int
    problem_ids: tuple[int, ...]


def generate_reports(session: Session, *, year: int, permit_id: int | None = None) -> int:
    """Add the reports owed for `year` (of every permit, or one); returns how many were new."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise QueryError(f"year must be {MIN_YEAR}–{MAX_YEAR}", field="year", value=year)
    result = session.execute(text(_GENERATE), {"year": year, "permit": permit_id})
    return result.rowcount


def list_reports(
    session: Session,
    *,
    unit_id: int | None = None,
    permit_id: int | None = None,
    county: str | None = None,
    year: int | None = None,
    overdue_on: date | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Reports matching every given filter, by due date; `overdue_on` keeps those past due on
    that day and missing or submitted late."""
    rows = session.execute(
        text(
            f"SELECT {_COLUMNS} FROM execution_reports r"
            " JOIN permits p ON p.id = r.permit_id JOIN units u ON u.id = p.unit_id"
            " WHERE (CAST(:unit AS bigint) IS NULL OR p.unit_id = :unit)"
            " AND (CAST(:permit AS bigint) IS NULL OR r.permit_id = :permit)"
            " AND (CAST(:county AS text) IS NULL OR u.county_code = :county)"
            " AND (CAST(:year AS int) IS NULL OR extract(year FROM r.period_start) = :year)"
            " AND (CAST(:overdue AS date) IS NULL OR (r.due_on < :overdue"
            "      AND (r.submitted_on IS NULL OR r.submitted_on > r.due_on)))"
            " ORDER BY r.due_on, r.id LIMIT :limit"
        ),
        {
            "unit": unit_id,
            "permit": permit_id,
            "county": county,
            "year": year,
            "overdue": overdue_on,
            "limit": limit,
        },
    ).mappings()
    return [dict(row) for row in rows]


def submit_report(
    session: Session,
    *,
    report_id: int,
    version: int,
    submitted_on: date,
    today: date,
    submitted_by: str,
) -> dict[str, Any]:
    """Record that a report was filed on `submitted_on` (not after today, not before its
    period ends); Conflict when it was recorded already or changed since `version`."""
    report = session.execute(
        text("SELECT period_end, submitted_on, version FROM execution_reports WHERE id = :id"),
        {"id": report_id},
    ).first()
    if report is None:
        raise NotFoundError(f"no execution report {report_id}")
    if submitted_on > today:
        message = f"a report cannot be submitted after today ({today})"
        raise QueryError(message, field="submitted_on", value=str(submitted_on))
    if submitted_on <= report.period_end:
        message = f"a report is filed after its period ends ({report.period_end})"
        raise ValidationError(message, field="submitted_on", value=str(submitted_on))
    if report.submitted_on is not None:
        raise ConflictError(f"execution report {report_id} was submitted on {report.submitted_on}")
    updated = session.execute(
        text(
            "UPDATE execution_reports SET submitted_on = :on, submitted_by = :by,"
            " version = version + 1 WHERE id = :id AND version = :version RETURNING id"
        ),
        {"on": submitted_on, "by": submitted_by, "id": report_id, "version": version},
    ).first()
    if updated is None:
        raise ConflictError(
            f"execution report {report_id} was changed by someone else (version"
            f" {report.version}, you sent {version}); reload it"
        )
    return list_reports_by_id(session, report_id)


def list_reports_by_id(session: Session, report_id: int) -> dict[str, Any]:
    """One report with its permit and unit."""
    row = session.execute(
        text(
            f"SELECT {_COLUMNS} FROM execution_reports r"
            " JOIN permits p ON p.id = r.permit_id JOIN units u ON u.id = p.unit_id"
            " WHERE r.id = :id"
        ),
        {"id": report_id},
    ).mappings()
    found = row.first()
    if found is None:
        raise NotFoundError(f"no execution report {report_id}")
    return dict(found)


def check_reports(
    session: Session, *, today: date, checked_by: str, county: str | None = None
) -> CheckResult:
    """Generate last year's and this year's reports, then open a problem for every report past
    due and missing or late that has none yet (and link it). Idempotent."""
    generated = sum(generate_reports(session, year=y) for y in (today.year - 1, today.year))
    rows = session.execute(text(_UNRESOLVED), {"today": today, "county": county}).all()
    opened = []
    for row in rows:
        problem_id = open_problem(
            session,
            source="execution_report",
            problem_type="report_missing" if row.submitted_on is None else "report_late",
            unit_id=row.unit_id,
            finding=_finding(row),
            department=row.authority,
            deadline=add_months(today, RECTIFY_MONTHS) if row.submitted_on is None else None,
            today=today,
            opened_by=checked_by,
        )
        session.execute(
            text(
                "UPDATE execution_reports SET problem_id = :problem, version = version + 1"
                " WHERE id = :id"
            ),
            {"problem": problem_id, "id": row.id},
        )
        opened.append(problem_id)
    return CheckResult(generated, len(opened), tuple(opened))


def _finding(row: Any) -> str:
    what = f"排污许可证 {row.permit_no} {row.period} {KIND_ZH[row.kind]}执行报告"
    if row.submitted_on is None:
        return f"{what}逾期未提交（应于 {row.due_on} 前提交）"
    return f"{what}逾期提交（应于 {row.due_on} 前提交，实际 {row.submitted_on} 提交）"

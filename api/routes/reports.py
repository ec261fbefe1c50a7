"""Execution reports (执行报告): what each permit owes and when, their submission, and the check
that opens a problem for each late or missing one (also `permitmap reports check`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import StaffUser, role_user
from api.deps import ClockDep, SessionDep
from geo.reports import check_reports, generate_reports, list_reports, submit_report

router = APIRouter(prefix="/api/reports", tags=["execution reports"])
SupervisorUser = role_user("supervisor")
ReportClerk = role_user("reviewer", "supervisor")


class ReportOut(BaseModel):
    """A report a permit owes for one period."""

    id: int
    permit_id: int
    permit_no: str
    unit_id: int
    unit_name: str
    county_code: str
    category: str
    kind: str
    period: str
    period_start: date
    period_end: date
    due_on: date
    submitted_on: date | None
    submitted_by: str | None
    problem_id: int | None
    version: int


class SubmitIn(BaseModel):
    """The filing of a report."""

    version: int = Field(ge=1, description="the version read; a stale one is a 409")
    submitted_on: date | None = Field(None, description="default: today")


class GenerateOut(BaseModel):
    """How many reports were added."""

    year: int
    generated: int


class CheckOut(BaseModel):
    """What a check did: reports added for last year and this one, problems opened."""

    generated: int
    opened: int
    problem_ids: list[int]


@router.get("", response_model=list[ReportOut])
def get_reports(
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    permit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    county: Annotated[str | None, Query(pattern="^[0-9]{6}$")] = None,
    year: Annotated[int | None, Query(ge=2015, le=2100)] = None,
    overdue: Annotated[bool, Query(description="only those past due, missing or late")] = False,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[ReportOut]:
    """Reports by due date, filtered by unit, permit, county, year of the period, overdue."""
    rows = list_reports(
        session,
        unit_id=unit_id,
        permit_id=permit_id,
        county=county,
        year=year,
        overdue_on=clock.today() if overdue else None,
        limit=limit,
    )
    return [ReportOut(**row) for row in rows]


@router.post("/generate", response_model=GenerateOut)
def post_generate(
    session: SessionDep,
    user: SupervisorUser,
    year: Annotated[int, Query(ge=2015, le=2100)],
) -> GenerateOut:
    """Add the reports every permit owes for `year` (idempotent)."""
    return GenerateOut(year=year, generated=generate_reports(session, year=year))


@router.post("/check", response_model=CheckOut)
def post_check(
    session: SessionDep,
    user: SupervisorUser,
    clock: ClockDep,
    county: Annotated[str | None, Query(pattern="^[0-9]{6}$")] = None,
) -> CheckOut:
    """Generate last year's and this year's reports, then open a problem (source
    'execution_report') for each report past due, missing or late, that has none yet."""
    result = check_reports(session, today=clock.today(), checked_by=user.name, county=county)
    return CheckOut(
        generated=result.generated, opened=result.opened, problem_ids=list(result.problem_ids)
    )


@router.post("/{report_id}/submit", response_model=ReportOut)
def post_submit(
    report_id: int, body: SubmitIn, session: SessionDep, user: ReportClerk, clock: ClockDep
) -> ReportOut:
    """Record a report as filed (400 if dated after today, 409 if filed already or stale)."""
    today = clock.today()
    row = submit_report(
        session,
        report_id=report_id,
        version=body.version,
        submitted_on=body.submitted_on or today,
        today=today,
        submitted_by=user.name,
    )
    return ReportOut(**row)

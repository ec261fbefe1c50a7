"""Online monitoring for staff: events and the problems they open, special periods and special
limits, abnormal-data thresholds, and devices.

Roles (admins may do everything): any staff reads; inspectors, reviewers and supervisors open
a problem from an event (as they open any problem); supervisors declare and end special periods
and set special limits; admins configure thresholds and register devices. Every write is in the
audit log under its author.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.auth import AdminUser, StaffUser, role_user
from api.deps import ClockDep, SessionDep
from api.routes.problems import ProblemDetail, detail
from geo.monitoring.devices import MN_PATTERN, list_devices, register_device
from geo.monitoring.events import KINDS, get_event, list_events, open_problem_from_event
from geo.monitoring.special_periods import (
    SpecialPeriod,
    declare_special_period,
    end_special_period,
    list_special_periods,
    set_special_limit,
)
from geo.monitoring.thresholds import get_threshold, set_threshold
from geo.problem_rules import OPEN_ROLES

router = APIRouter(tags=["monitoring"])
OpenerUser = role_user(*OPEN_ROLES)
SupervisorUser = role_user("supervisor")
Kind = Literal[KINDS]  # type: ignore[valid-type]
County = Annotated[str | None, Query(pattern=r"^\d{6}$")]
PollutantCode = Annotated[str, Path(description="HJ 212 pollutant code, e.g. w01018")]


class EventOut(BaseModel):
    """A monitoring event (exceedance, abnormal data or offline) with its outlet and unit."""

    id: int
    outlet_id: int
    outlet_code: str
    unit_id: int
    unit_name: str
    county_code: str
    mn: str | None
    pollutant_code: str | None
    pollutant_name: str | None
    concentration_unit: str | None
    kind: str
    rule: str
    started_at: datetime
    ended_at: datetime | None
    open: bool
    peak_value: float | None
    peak_at: datetime | None
    limit_value: float | None
    detail: str | None
    problem_id: int | None
    detected_at: datetime


class EventProblemIn(BaseModel):
    """The problem an event opens: the type defaults to monitoring_<kind> and the finding to the
    event's outlet, pollutant, rule, peak, limit and times."""

    department: str = Field(max_length=200, examples=["江津区生态环境局执法支队"])
    deadline: date | None = Field(default=None, description="3–12 months from today")
    problem_type: str | None = Field(default=None, examples=["monitoring_exceedance"])
    finding: str | None = Field(default=None, max_length=4000)


class PeriodIn(BaseModel):
    """A special period to declare: a county's, or the whole province's (no county_code)."""

    name: str = Field(max_length=200, examples=["重污染天气橙色预警"])
    county_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    starts_on: date
    ends_on: date = Field(description="last day in force (included)")
    reason: str | None = Field(default=None, max_length=2000)


class PeriodEndIn(BaseModel):
    """The last day a period stays in force (today when left out)."""

    last_day: date | None = None


class PeriodOut(BaseModel):
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
    in_force_today: bool


class SpecialLimitIn(BaseModel):
    """An outlet pollutant's special limit (null clears it): above 0, at most the permitted one."""

    special_limit: Decimal | None = Field(max_digits=12, decimal_places=4)


class OutletLimitOut(BaseModel):
    """An outlet pollutant's limits."""

    outlet_id: int
    pollutant_code: str
    pollutant_name: str
    concentration_limit: float
    concentration_unit: str
    special_limit: float | None


class ThresholdIn(BaseModel):
    """A pollutant's instrument range (either end optional) and constant run length."""

    range_min: float | None = None
    range_max: float | None = None
    constant_intervals: int = Field(default=10, ge=2, le=1000)


class ThresholdOut(ThresholdIn):
    """A pollutant's thresholds; `configured` is false for the defaults."""

    pollutant_code: str
    configured: bool


class DeviceIn(BaseModel):
    """A data-acquisition device (MN) to register to an outlet, with its password (PW)."""

    mn: str = Field(pattern=MN_PATTERN, examples=["88888880000001"])
    outlet_id: int
    password: str = Field(min_length=1, max_length=32)
    interval_s: int = Field(default=60, ge=1, le=86400)
    offline_intervals: int = Field(default=5, ge=1, le=1000)


class DeviceOut(BaseModel):
    """A registered device (never its password)."""

    mn: str
    outlet_id: int
    outlet_code: str
    unit_id: int
    unit_name: str
    county_code: str
    interval_s: int
    offline_intervals: int
    active: bool
    registered_at: datetime
    last_seen: datetime | None
    live_status: str


@router.get("/api/monitoring/events", response_model=list[EventOut])
def get_events(
    session: SessionDep,
    user: StaffUser,
    county: County = None,
    outlet_id: int | None = None,
    unit_id: int | None = None,
    kind: Kind | None = None,
    open_only: Annotated[bool, Query(alias="open", description="only events still open")] = False,
    since: Annotated[datetime | None, Query(description="open, or ended at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict]:
    """Events, latest start first."""
    return list_events(
        session,
        county=county,
        outlet_id=outlet_id,
        unit_id=unit_id,
        kind=kind,
        open_only=open_only,
        since=since,
        limit=limit,
    )


@router.get("/api/monitoring/events/{event_id}", response_model=EventOut)
def get_one_event(event_id: int, session: SessionDep, user: StaffUser) -> dict:
    """One event."""
    return get_event(session, event_id=event_id)


@router.post(
    "/api/monitoring/events/{event_id}/problem", status_code=201, response_model=ProblemDetail
)
def post_event_problem(
    event_id: int, body: EventProblemIn, session: SessionDep, user: OpenerUser, clock: ClockDep
) -> dict:
    """Open the event's problem on the ledger in one step (one per event: again → 409)."""
    problem_id = open_problem_from_event(
        session,
        event_id=event_id,
        department=body.department,
        deadline=body.deadline,
        today=clock.today(),
        opened_by=user.name,
        problem_type=body.problem_type,
        finding=body.finding,
    )
    return detail(session, problem_id, clock)


def _period_out(period: SpecialPeriod, today: date) -> dict:
    return {**asdict(period), "in_force_today": period.in_force(today)}


@router.get("/api/monitoring/special-periods", response_model=list[PeriodOut])
def get_periods(
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    county: County = None,
    active_on: date | None = None,
) -> list[dict]:
    """Special periods, latest first: a county's own and the province's, in force on a day."""
    today = clock.today()
    found = list_special_periods(session, county=county, active_on=active_on)
    return [_period_out(period, today) for period in found]


@router.post("/api/monitoring/special-periods", status_code=201, response_model=PeriodOut)
def post_period(body: PeriodIn, session: SessionDep, user: SupervisorUser, clock: ClockDep) -> dict:
    """Declare a special period: the special limits apply to its outlets' data of those days."""
    period = declare_special_period(session, **body.model_dump(), created_by=user.name)
    return _period_out(period, clock.today())


@router.post("/api/monitoring/special-periods/{period_id}/end", response_model=PeriodOut)
def post_period_end(
    period_id: int, body: PeriodEndIn, session: SessionDep, user: SupervisorUser, clock: ClockDep
) -> dict:
    """End a period (its last day: today when not given; 409 when it already ends earlier)."""
    today = clock.today()
    period = end_special_period(session, period_id=period_id, last_day=body.last_day or today)
    return _period_out(period, today)


@router.put(
    "/api/outlets/{outlet_id}/pollutants/{code}/special-limit", response_model=OutletLimitOut
)
def put_special_limit(
    outlet_id: int, code: str, body: SpecialLimitIn, session: SessionDep, user: SupervisorUser
) -> dict:
    """Set or clear the special limit of an outlet's permitted pollutant."""
    changed = set_special_limit(
        session, outlet_id=outlet_id, pollutant_code=code, special_limit=body.special_limit
    )
    return asdict(changed)


@router.get("/api/monitoring/thresholds/{pollutant_code}", response_model=ThresholdOut)
def get_pollutant_threshold(
    pollutant_code: PollutantCode, session: SessionDep, user: AdminUser
) -> dict:
    """A pollutant's abnormal-data thresholds (the defaults when none are configured)."""
    return asdict(get_threshold(session, pollutant_code=pollutant_code))


@router.put("/api/monitoring/thresholds/{pollutant_code}", response_model=ThresholdOut)
def put_pollutant_threshold(
    pollutant_code: PollutantCode, body: ThresholdIn, session: SessionDep, user: AdminUser
) -> dict:
    """Configure a pollutant's instrument range and constant run length."""
    return asdict(set_threshold(session, pollutant_code=pollutant_code, **body.model_dump()))


@router.get("/api/monitoring/devices", response_model=list[DeviceOut])
def get_devices(
    session: SessionDep, user: StaffUser, outlet_id: int | None = None, county: County = None
) -> list[dict]:
    """Registered devices by MN, with their outlet's live status."""
    return [asdict(d) for d in list_devices(session, outlet_id=outlet_id, county=county)]


@router.post("/api/monitoring/devices", status_code=201, response_model=DeviceOut)
def post_device(body: DeviceIn, session: SessionDep, user: AdminUser) -> dict:
    """Register an MN to an outlet with its password (again: move it, set a new password)."""
    device = register_device(session, **body.model_dump())
    return asdict(list_devices(session, outlet_id=device.outlet_id, mn=device.mn)[0])

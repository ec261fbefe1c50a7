"""Online monitoring for the map and the pages: an outlet's series against its limits and the
county summary (staff), and the daily averages a key unit discloses (public).

The public response models are whitelists: the outlet's public fields come from the disclosure
declaration (`layers/disclosure.py`), the rest from `geo.monitoring.series`' public columns; a
key the models do not declare never reaches the public.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, create_model

from api.auth import StaffUser
from api.deps import ClockDep, SessionDep
from api.routes.disclosure import PYTHON_TYPES
from geo.monitoring.series import (
    PUBLIC_OUTLET_COLUMNS,
    monitoring_summary,
    outlet_series,
    public_daily_averages,
)
from layers.disclosure import OUTLET_PUBLIC

router = APIRouter(tags=["monitoring"])

WindowParam = Literal["24h", "7d", "30d"]


class PointOut(BaseModel):
    """A point: the start of its hour or day (China time), the value, and the data it comes
    from (2031 daily / 2061 hourly averages sent by the device; 2051 minute / 2011 real-time
    values averaged by permitmap; a daily point averaged from the day's hours says 2061)."""

    t: datetime
    value: float
    cn: int


class SeriesOut(BaseModel):
    """A pollutant's points with its permitted concentration limit and special limit (重污染天气
    等特别时段的限值, when the permit sets one), in `unit`."""

    pollutant_code: str
    pollutant_name: str | None
    unit: str | None
    concentration_limit: float | None
    special_limit: float | None
    points: list[PointOut]


class OutletSeriesOut(BaseModel):
    """An outlet's series over the window: hourly for 24h and 7d, daily for 30d."""

    outlet_id: int
    outlet_code: str
    live_status: str
    monitored: bool
    window: WindowParam
    step: Literal["hour", "day"]
    start: datetime
    end: datetime
    series: list[SeriesOut]


class MonitoringCountsOut(BaseModel):
    """Outlets of a county by live status; `online` is monitored and not offline."""

    county_code: str | None
    county_name: str | None
    outlets: int
    monitored: int
    online: int
    exceeding: int
    abnormal: int
    offline: int
    not_monitored: int


class MonitoringSummaryOut(BaseModel):
    """Per county, and in all."""

    counties: list[MonitoringCountsOut]
    total: MonitoringCountsOut


class PublicDailyValue(BaseModel):
    """A day's average (China Standard Time day)."""

    date: date
    value: float


class PublicMonitoredPollutant(BaseModel):
    """A permitted pollutant: its permitted limit and its daily averages."""

    pollutant_code: str
    pollutant_name: str
    concentration_limit: float | None
    concentration_unit: str | None
    daily: list[PublicDailyValue]


PublicMonitoredOutlet = create_model(
    "PublicMonitoredOutlet",
    __doc__="An outlet (its public fields) and the daily averages of its permitted pollutants.",
    **{f.name: (PYTHON_TYPES[f.type] | None, None) for f in OUTLET_PUBLIC},
    pollutants=(list[PublicMonitoredPollutant], ...),
)
if tuple(f.name for f in OUTLET_PUBLIC) != PUBLIC_OUTLET_COLUMNS:  # one declaration of both
    raise LookupError("geo.monitoring.series' public outlet columns differ from the disclosure")


class PublicMonitoring(BaseModel):
    """A key unit's daily averages of online monitoring (在线监测日均值), days `start`–`end`."""

    credit_code: str
    site: int
    start: date
    end: date
    outlets: list[PublicMonitoredOutlet]  # type: ignore[valid-type]


@router.get("/api/outlets/{outlet_id}/readings", response_model=OutletSeriesOut)
def get_outlet_readings(
    outlet_id: int,
    session: SessionDep,
    clock: ClockDep,
    user: StaffUser,
    pollutant: Annotated[
        str | None, Query(description="HJ 212 pollutant code (default: all of the outlet's)")
    ] = None,
    window: Annotated[WindowParam, Query(description="24h and 7d hourly, 30d daily")] = "24h",
) -> dict[str, Any]:
    """The outlet's monitoring series against its limits: hourly points (the device's hourly
    average, else the mean of its minute, else real-time values) for 24h and 7d, daily points
    (the device's daily average, else the mean of the day's hours) for 30d; per pollutant, or
    for every pollutant it is permitted or sent data for (at most 20). Also its live status."""
    found = outlet_series(
        session, outlet_id=outlet_id, pollutant=pollutant, window=window, now=clock.now()
    )
    return asdict(found)


@router.get("/api/monitoring/summary", response_model=MonitoringSummaryOut)
def get_monitoring_summary(
    session: SessionDep,
    user: StaffUser,
    county: Annotated[str | None, Query(description="a county code (default: all)")] = None,
) -> dict[str, Any]:
    """Outlets per county (of their unit) by live status: monitored, online, exceeding,
    abnormal, offline, not monitored; each outlet counted once, as the map colours it."""
    counties = monitoring_summary(session, county=county)
    numbers = [
        k for k in MonitoringCountsOut.model_fields if k not in ("county_code", "county_name")
    ]
    total = {k: sum(c[k] for c in counties) for k in numbers}
    return {"counties": counties, "total": {"county_code": None, "county_name": None, **total}}


@router.get("/api/public/units/{credit_code}/monitoring", response_model=PublicMonitoring)
def get_public_monitoring(
    credit_code: str,
    session: SessionDep,
    clock: ClockDep,
    site: Annotated[
        int | None, Query(ge=1, le=999, description="site number (default: the lowest)")
    ] = None,
) -> dict[str, Any]:
    """A key unit's daily averages of online monitoring for the last 30 complete days, per
    outlet and permitted pollutant, with the permitted limit (自行监测信息公开). Nothing else of
    the data stream: no real-time, minute or hourly value, no flag, no device. 404 for a unit
    that is not a key unit (重点排污单位), as for an unknown one."""
    return public_daily_averages(session, credit_code=credit_code, site=site, today=clock.today())

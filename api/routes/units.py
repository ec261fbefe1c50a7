"""Units for staff: the search box of the map and the side panel's record of one unit."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import StaffUser
from api.deps import SessionDep
from geo.units import search_units, unit_record

router = APIRouter(prefix="/api/units", tags=["units"])


class UnitHitOut(BaseModel):
    """A search result: label it, fly to it."""

    id: int
    name: str
    credit_code: str
    permit_no: str | None
    category: str
    county_name: str | None
    lon: float
    lat: float


class UnitOut(BaseModel):
    """The unit's own columns with its status (from the `unit_status` view)."""

    id: int
    name: str
    credit_code: str
    credit_code_ok: bool
    site_seq: int
    industry_code: str
    industry_name: str | None
    category: str
    county_code: str
    county_name: str | None
    address: str | None
    operating_status: str
    location_source: str
    lon: float
    lat: float
    created_at: datetime
    updated_at: datetime
    permit_state: str
    enforcement_status: str
    open_flags: int
    open_problems: int
    overdue_problems: int


class PermitOut(BaseModel):
    """One permit (or registration) of the unit."""

    id: int
    permit_no: str
    kind: str
    status: str
    issued_on: date
    valid_from: date
    valid_to: date
    authority: str
    report_frequencies: list[str]


class PollutantOut(BaseModel):
    """A permitted pollutant of an outlet and its limits."""

    pollutant_code: str
    pollutant_name: str
    concentration_limit: float
    concentration_unit: str
    annual_limit_t: float | None


class OutletOut(BaseModel):
    """An outlet of the unit with its permitted pollutants."""

    id: int
    code: str
    medium: str
    kind: str
    receiving_water: str | None
    lon: float
    lat: float
    pollutants: list[PollutantOut]


class UnitFlagOut(BaseModel):
    """A flag on the unit or on one of its outlets (`outlet_code` then says which)."""

    id: int
    feature_type: str
    feature_id: int
    outlet_code: str | None
    rule_code: str
    severity: str
    legal_basis: str
    zone_code: str
    zone_name: str
    zone_kind: str
    classification: str
    distance_m: float | None
    status: str
    status_reason: str | None
    reviewer: str | None
    reviewed_at: datetime | None
    first_seen: datetime
    last_seen: datetime


class UnitRecordOut(BaseModel):
    """Everything the side panel shows about a unit."""

    unit: UnitOut
    permit: PermitOut | None
    permits: list[PermitOut]
    outlets: list[OutletOut]
    flags: list[UnitFlagOut]
    enforcement: list[dict[str, object]]


@router.get("/search", response_model=list[UnitHitOut])
def search(
    session: SessionDep,
    user: StaffUser,
    q: Annotated[
        str, Query(description="part of a name, or the start of a credit code or permit number")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[UnitHitOut]:
    """Units whose name contains `q` or whose credit code or permit number starts with it (any
    case; 2 to 100 characters); exact code and permit matches first."""
    return [UnitHitOut(**asdict(hit)) for hit in search_units(session, q=q, limit=limit)]


@router.get("/{unit_id}", response_model=UnitRecordOut)
def get_unit(unit_id: int, session: SessionDep, user: StaffUser) -> UnitRecordOut:
    """A unit's record: its columns and status, current permit and permit history (newest
    first), outlets with permitted limits, flags, and `enforcement` (its penalty decisions and
    problems)."""
    return UnitRecordOut(**unit_record(session, unit_id=unit_id))

"""Screening runs and the flags they leave (staff only)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import StaffUser
from api.deps import SessionDep
from geo.flags import flag_summary, list_flags, review_flag
from geo.screening import DEFAULT_NEAR_BOUNDARY_M, screen

router = APIRouter(prefix="/api", tags=["screening"])


class RunRequest(BaseModel):
    """Options of a screening run."""

    near_boundary_m: float = Field(default=DEFAULT_NEAR_BOUNDARY_M, ge=0, le=5_000)


class RunResult(BaseModel):
    """What a run did."""

    run_id: int
    scope: str
    detected: int
    still_open: int
    reopened: int
    resolved: int
    by_severity: dict[str, int]


class FlagOut(BaseModel):
    """A flag as staff see it."""

    id: int
    feature_type: str
    feature_id: int
    county_code: str | None
    zone_code: str
    zone_kind: str
    zone_version: int
    zone_name: str
    rule: str
    severity: str
    legal_basis: str
    classification: str
    distance_m: float | None
    status: str
    status_reason: str | None
    reviewer: str | None
    reviewed_at: datetime | None
    first_seen: datetime
    last_seen: datetime


class FlagPageOut(BaseModel):
    """A page of flags."""

    items: list[FlagOut]
    total: int
    page: int
    page_size: int


class SummaryRow(BaseModel):
    """Flag counts of one county and zone kind."""

    county_code: str | None
    zone_kind: str
    prohibited: int
    restricted: int
    notice: int
    unresolved: int
    total: int


class Review(BaseModel):
    """A reviewer's decision on a flag."""

    status: Literal["confirmed", "dismissed"]
    reason: str | None = Field(default=None, max_length=2_000)


@router.post("/screening/runs", status_code=201, response_model=RunResult)
def run_screening(
    session: SessionDep, user: StaffUser, body: RunRequest | None = None
) -> RunResult:
    """Screen every unit, outlet and outfall against every current zone."""
    near = (body or RunRequest()).near_boundary_m
    summary = screen(session, now=datetime.now(UTC), near_boundary_m=near)
    return RunResult(**asdict(summary))


@router.get("/flags", response_model=FlagPageOut)
def get_flags(
    session: SessionDep,
    user: StaffUser,
    severity: Literal["prohibited", "restricted", "notice"] | None = None,
    zone_kind: Literal[
        "water_protection",
        "control_unit",
        "ecological_redline",
        "nature_reserve",
        "industrial_park",
    ]
    | None = None,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    status: Literal["open", "confirmed", "dismissed", "resolved"] | None = None,
    feature_type: Literal["unit", "outlet", "river_outfall"] | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FlagPageOut:
    """Flags, filtered and paged, most recently seen first."""
    filters = {
        "severity": severity,
        "zone_kind": zone_kind,
        "county": county,
        "status": status,
        "feature_type": feature_type,
    }
    found = list_flags(session, filters=filters, page=page, page_size=page_size)
    return FlagPageOut(
        items=[FlagOut(**item) for item in found.items],
        total=found.total,
        page=page,
        page_size=page_size,
    )


@router.get("/flags/summary", response_model=list[SummaryRow])
def get_flag_summary(session: SessionDep, user: StaffUser) -> list[SummaryRow]:
    """Flag counts by county and zone kind."""
    return [SummaryRow(**row) for row in flag_summary(session)]


@router.patch("/flags/{flag_id}", response_model=FlagOut)
def patch_flag(flag_id: int, body: Review, session: SessionDep, user: StaffUser) -> FlagOut:
    """Confirm or dismiss a flag (a dismissal needs a reason); the reviewer is the caller."""
    flag = review_flag(
        session,
        flag_id=flag_id,
        status=body.status,
        reason=body.reason,
        reviewer=user.name,
        now=datetime.now(UTC),
    )
    return FlagOut(**flag)

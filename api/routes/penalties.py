"""Administrative penalty decisions: supervisors record and edit them, staff list them; the
public ones appear in the unit's public disclosure record (`/api/public/units/…`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from api.auth import StaffUser, role_user
from api.deps import ClockDep, SessionDep
from geo.penalties import PenaltyInput, list_penalties, record_penalty, update_penalty

router = APIRouter(tags=["penalties"])
SupervisorUser = role_user("supervisor")


class PenaltyIn(BaseModel):
    """A penalty decision (行政处罚决定书) as recorded."""

    decision_no: str = Field(min_length=1, max_length=100, description="decision number")
    decided_on: date = Field(description="date of the decision (not after today)")
    violation: str = Field(min_length=1, max_length=2000)
    legal_basis: str = Field(min_length=1, max_length=2000)
    amount_yuan: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    public: bool = Field(False, description="disclosed on the unit's public page")


class PenaltyPatch(BaseModel):
    """Changes to a decision, with the version they were made on."""

    version: int = Field(ge=1, description="the version read; a stale one is a 409")
    decision_no: str | None = Field(None, min_length=1, max_length=100)
    decided_on: date | None = None
    violation: str | None = Field(None, min_length=1, max_length=2000)
    legal_basis: str | None = Field(None, min_length=1, max_length=2000)
    amount_yuan: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    public: bool | None = None


class PenaltyOut(BaseModel):
    """A recorded decision."""

    id: int
    decision_no: str
    unit_id: int
    decided_on: date
    violation: str
    legal_basis: str
    amount_yuan: float
    public: bool
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime


class PenaltyListed(PenaltyOut):
    """A decision with its unit's name, credit code and county."""

    unit_name: str
    credit_code: str
    county_code: str


@router.post(
    "/api/units/{unit_id}/penalties",
    response_model=PenaltyOut,
    status_code=status.HTTP_201_CREATED,
)
def create_penalty(
    unit_id: int, body: PenaltyIn, session: SessionDep, user: SupervisorUser, clock: ClockDep
) -> PenaltyOut:
    """Record a decision against a unit (409 if its number is recorded already; 400 if dated
    after today)."""
    recorded = record_penalty(
        session,
        unit_id=unit_id,
        penalty=PenaltyInput(**body.model_dump()),
        today=clock.today(),
        recorded_by=user.name,
    )
    return PenaltyOut(**recorded)


@router.get("/api/penalties", response_model=list[PenaltyListed])
def get_penalties(
    session: SessionDep,
    user: StaffUser,
    unit_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    county: Annotated[str | None, Query(pattern="^[0-9]{6}$")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[PenaltyListed]:
    """Decisions, newest first, public or not, of one unit and/or one county's units."""
    rows = list_penalties(session, unit_id=unit_id, county=county, limit=limit)
    return [PenaltyListed(**row) for row in rows]


@router.patch("/api/penalties/{penalty_id}", response_model=PenaltyOut)
def patch_penalty(
    penalty_id: int, body: PenaltyPatch, session: SessionDep, user: SupervisorUser, clock: ClockDep
) -> PenaltyOut:
    """Change a decision (e.g. make it public); send the `version` you read: 409 if it moved."""
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    changes = {name: value for name, value in changes.items() if value is not None}
    updated = update_penalty(
        session, penalty_id=penalty_id, version=body.version, changes=changes, today=clock.today()
    )
    return PenaltyOut(**updated)

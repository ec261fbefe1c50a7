"""Adding, editing and moving units, outlets and river outfalls (staff): any accepted CRS,
re-screened in the same transaction."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import StaffUser
from api.deps import SessionDep
from api.routes.screening import RunResult
from geo.features import create_outfall, create_outlet, create_unit, update_unit
from geo.relocation import relocate

router = APIRouter(prefix="/api", tags=["features"])
FEATURE_TYPES = {"units": "unit", "outlets": "outlet", "river-outfalls": "river_outfall"}


class Location(BaseModel):
    """A typed-in position: decimal degrees or degree-minute-second text."""

    longitude: str | float = Field(examples=["106°33′12.3″E", 106.5534])
    latitude: str | float = Field(examples=["29°33′46″N", 29.5628])
    crs: str = Field(default="wgs84", examples=["wgs84", "cgcs2000", "gcj02", "bd09"])
    location_source: (
        Literal["surveyed", "reported", "geocoded", "converted_gcj02", "converted_bd09"] | None
    ) = None


class Relocated(BaseModel):
    """Where the feature now stands (EPSG:4326) and what re-screening it did."""

    feature_type: str
    feature_id: int
    longitude: float
    latitude: float
    screening: RunResult


@router.patch("/{collection}/{feature_id}/location", response_model=Relocated)
def move_feature(
    collection: Literal["units", "outlets", "river-outfalls"],
    feature_id: int,
    body: Location,
    session: SessionDep,
    user: StaffUser,
) -> Relocated:
    """Move a feature; its flags are brought up to date in the same transaction."""
    moved = relocate(
        session,
        feature_type=FEATURE_TYPES[collection],
        feature_id=feature_id,
        longitude=body.longitude,
        latitude=body.latitude,
        crs=body.crs,
        now=datetime.now(UTC),
        location_source=body.location_source,
    )
    result = asdict(moved)
    result["screening"] = RunResult(**result["screening"])
    return Relocated(**result)


Category = Literal["key", "simplified", "registration"]
Status = Literal["operating", "suspended", "closed"]


class NewUnit(Location):
    """A unit to add; its county is found from its location."""

    credit_code: str = Field(min_length=18, max_length=18, examples=["91500116MA5U7C1234"])
    site_seq: int = Field(default=1, ge=1, le=999)
    name: str = Field(min_length=2, max_length=200)
    industry_code: str = Field(pattern=r"^\d{4}$")
    category: Category
    status: Status = "operating"
    address: str | None = Field(default=None, max_length=500)


class UnitChange(BaseModel):
    """Fields of a unit that may change (send only those that do)."""

    model_config = {"extra": "forbid"}

    name: str | None = Field(default=None, min_length=2, max_length=200)
    industry_code: str | None = Field(default=None, pattern=r"^\d{4}$")
    category: Category | None = None
    status: Status | None = None
    address: str | None = Field(default=None, max_length=500)


class NewOutlet(Location):
    """An outlet to add to a unit."""

    code: str = Field(pattern=r"^D[AW]\d{3}$", examples=["DW001", "DA002"])
    medium: Literal["water", "air"]
    kind: Literal["main", "general"] = "general"
    receiving_water: str | None = Field(default=None, max_length=200)


class NewOutfall(Location):
    """A river outfall to add."""

    code: str = Field(min_length=3, max_length=32)
    name: str = Field(min_length=2, max_length=200)
    outfall_type: Literal["industrial", "municipal_wwtp", "agricultural", "other"]
    receiving_water: str = Field(min_length=1, max_length=200)


class Written(BaseModel):
    """The id of what was written and the screening of it, done in the same transaction."""

    id: int
    screening: RunResult


def _written(feature_id: int, summary: object) -> Written:
    return Written(id=feature_id, screening=RunResult(**asdict(summary)))


@router.post("/units", status_code=201, response_model=Written)
def add_unit(body: NewUnit, session: SessionDep, user: StaffUser) -> Written:
    """Add a unit; it is screened before the answer."""
    unit_id, summary = create_unit(session, values=body.model_dump(), now=datetime.now(UTC))
    return _written(unit_id, summary)


@router.patch("/units/{unit_id}", response_model=Written)
def edit_unit(unit_id: int, body: UnitChange, session: SessionDep, user: StaffUser) -> Written:
    """Change a unit (industry, category, status …); it and its outlets are re-screened."""
    changes = body.model_dump(exclude_unset=True)
    summary = update_unit(session, unit_id=unit_id, changes=changes, now=datetime.now(UTC))
    return _written(unit_id, summary)


@router.post("/units/{unit_id}/outlets", status_code=201, response_model=Written)
def add_outlet(unit_id: int, body: NewOutlet, session: SessionDep, user: StaffUser) -> Written:
    """Add an outlet to a unit; it is screened before the answer."""
    outlet_id, summary = create_outlet(
        session, unit_id=unit_id, values=body.model_dump(), now=datetime.now(UTC)
    )
    return _written(outlet_id, summary)


@router.post("/river-outfalls", status_code=201, response_model=Written)
def add_outfall(body: NewOutfall, session: SessionDep, user: StaffUser) -> Written:
    """Add a river outfall; it is screened before the answer."""
    outfall_id, summary = create_outfall(session, values=body.model_dump(), now=datetime.now(UTC))
    return _written(outfall_id, summary)

"""Moving units, outlets and river outfalls (staff): any accepted CRS, re-screened at once."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import StaffUser
from api.deps import SessionDep
from api.routes.screening import RunResult
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

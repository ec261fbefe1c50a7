"""Zones (admins): add a zone or a new version of one; what it touches is re-screened at once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

import shapely
from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.auth import AdminUser
from api.deps import SessionDep
from geo.errors import ValidationError
from geo.geofiles import geometry_from_geojson, prepare_geometry
from geo.zones import ZoneVersion, add_zone, new_zone_version

router = APIRouter(prefix="/api/zones", tags=["zones"])


class ZoneGeometry(BaseModel):
    """A polygon or multipolygon (GeoJSON) in any accepted CRS, and when it takes effect."""

    geometry: dict[str, Any]
    crs: str = "cgcs2000"
    valid_from: date
    approval_doc: str | None = Field(default=None, max_length=500)
    approved_on: date | None = None


class NewZone(ZoneGeometry):
    """A zone to add (version 1)."""

    kind: Literal[
        "water_protection",
        "control_unit",
        "ecological_redline",
        "nature_reserve",
        "industrial_park",
    ]
    grade: str | None = None
    code: str = Field(min_length=2, max_length=64)
    name: str = Field(min_length=2, max_length=200)
    source: str = Field(min_length=2, max_length=200)
    parent_code: str | None = Field(default=None, max_length=64)


class ZoneWritten(BaseModel):
    """The stored version, and notes on repairs made to the geometry."""

    id: int
    code: str
    version: int
    valid_from: date
    notes: list[str]


def _polygon_ewkt(body: ZoneGeometry) -> tuple[str, list[str]]:
    geometry, notes = prepare_geometry(geometry_from_geojson(body.geometry), body.crs)
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise ValidationError(
            "a zone is a polygon or multipolygon", field="geometry", value=geometry.geom_type
        )
    return f"SRID=4326;{shapely.to_wkt(geometry)}", notes


def _written(stored: ZoneVersion, notes: list[str]) -> ZoneWritten:
    return ZoneWritten(
        id=stored.id,
        code=stored.code,
        version=stored.version,
        valid_from=stored.valid_from,
        notes=notes,
    )


@router.post("", status_code=201, response_model=ZoneWritten)
def post_zone(body: NewZone, session: SessionDep, user: AdminUser) -> ZoneWritten:
    """Add a zone; features it touches are screened in the same transaction."""
    ewkt, notes = _polygon_ewkt(body)
    stored = add_zone(
        session,
        now=datetime.now(UTC),
        kind=body.kind,
        grade=body.grade,
        code=body.code,
        name=body.name,
        geometry_ewkt=ewkt,
        valid_from=body.valid_from,
        source=body.source,
        approval_doc=body.approval_doc,
        approved_on=body.approved_on,
        parent_code=body.parent_code,
    )
    return _written(stored, notes)


@router.post("/{code}/versions", status_code=201, response_model=ZoneWritten)
def post_zone_version(
    code: str, body: ZoneGeometry, session: SessionDep, user: AdminUser
) -> ZoneWritten:
    """Re-approve a zone with a new boundary: the current version closes, the new one starts,
    and flags follow (a feature the new boundary no longer holds is resolved, with the reason)."""
    ewkt, notes = _polygon_ewkt(body)
    stored = new_zone_version(
        session,
        now=datetime.now(UTC),
        code=code,
        geometry_ewkt=ewkt,
        valid_from=body.valid_from,
        approval_doc=body.approval_doc,
        approved_on=body.approved_on,
    )
    return _written(stored, notes)

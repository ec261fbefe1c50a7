"""Siting checks for planners: a proposed site against the zoning, before it is approved."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from api.auth import StaffUser
from api.deps import SessionDep
from geo.errors import ValidationError
from geo.geofiles import geometry_from_geojson, read_geometry
from geo.siting import SitingRequest, check_siting

router = APIRouter(prefix="/api/siting", tags=["siting"])


class SitingCheck(BaseModel):
    """A proposed point, line or polygon (GeoJSON) and what the project is."""

    geometry: dict[str, Any] = Field(
        examples=[{"type": "Point", "coordinates": [106.55, 29.56]}],
        description="GeoJSON Geometry, Feature or FeatureCollection",
    )
    crs: str = Field(default="wgs84", examples=["wgs84", "cgcs2000", "gcj02", "bd09"])
    industry_code: str = Field(examples=["3360"], description="GB/T 4754-2017 小类")
    media: list[Literal["water", "air"]] = Field(default_factory=list)
    project: Literal["new", "expansion"] = "new"


@router.post("/check")
def check(body: SitingCheck, session: SessionDep, user: StaffUser, request: Request) -> dict:
    """Verdict, applicable rules with their legal basis, zones touched (overlap and share),
    nearest protection zones and intakes, and the control unit's access list."""
    geometry = geometry_from_geojson(body.geometry)
    siting = SitingRequest(
        geometry, body.crs, body.industry_code, frozenset(body.media), body.project
    )
    limits = request.app.state.settings.siting
    return check_siting(session, siting, max_area_km2=limits.max_area_km2).to_dict()


@router.post("/check-file")
async def check_file(
    session: SessionDep,
    user: StaffUser,
    request: Request,
    file: Annotated[UploadFile, File(description="GeoJSON, KML, zipped Shapefile or GeoPackage")],
    industry_code: Annotated[str, Form()],
    media: Annotated[str, Form(description="comma-separated: water, air")] = "",
    project: Annotated[Literal["new", "expansion"], Form()] = "new",
    crs: Annotated[str, Form()] = "wgs84",
) -> dict:
    """The same check for an uploaded file (size limited by PERMITMAP_SITING_MAX_UPLOAD_BYTES)."""
    limits = request.app.state.settings.siting
    data = await file.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise ValidationError(
            f"the file is larger than the limit of {limits.max_upload_bytes:,} bytes",
            field="file",
            value=file.filename,
        )
    geometry = read_geometry(data, file.filename or "upload", max_bytes=limits.max_upload_bytes)
    siting = SitingRequest(geometry, crs, industry_code, media, project, source_field="file")
    return check_siting(session, siting, max_area_km2=limits.max_area_km2).to_dict()

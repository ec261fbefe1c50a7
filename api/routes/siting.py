"""Siting checks for planners: a proposed site against the zoning, before it is approved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import StaffUser
from api.deps import SessionDep
from geo.errors import ValidationError
from geo.geofiles import geometry_from_geojson, read_geometry
from geo.siting import SitingRequest, SitingResult, check_siting

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


def run_check(session: Session, body: SitingCheck, request: Request) -> SitingResult:
    """The check of a GeoJSON proposal (shared by the API and the siting page)."""
    geometry = geometry_from_geojson(body.geometry)
    siting = SitingRequest(
        geometry, body.crs, body.industry_code, frozenset(body.media), body.project
    )
    limits = request.app.state.settings.siting
    return check_siting(session, siting, max_area_km2=limits.max_area_km2)


async def read_upload(file: UploadFile, request: Request) -> tuple[bytes, str]:
    """An uploaded file's bytes and name, refused when over the configured size."""
    limits = request.app.state.settings.siting
    data = await file.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise ValidationError(
            f"the file is larger than the limit of {limits.max_upload_bytes:,} bytes",
            field="file",
            value=file.filename,
        )
    return data, file.filename or "upload"


def run_file_check(
    session: Session, upload: tuple[bytes, str], form: SitingForm, request: Request
) -> SitingResult:
    """The check of an uploaded file's geometry (shared by the API and the siting page)."""
    limits = request.app.state.settings.siting
    geometry = read_geometry(upload[0], upload[1], max_bytes=limits.max_upload_bytes)
    siting = SitingRequest(
        geometry, form.crs, form.industry_code, form.media, form.project, source_field="file"
    )
    return check_siting(session, siting, max_area_km2=limits.max_area_km2)


@dataclass(frozen=True)
class SitingForm:
    """The form fields that go with an uploaded file."""

    industry_code: str
    media: str
    project: str
    crs: str


def siting_form(
    industry_code: Annotated[str, Form()],
    media: Annotated[str, Form(description="comma-separated: water, air")] = "",
    project: Annotated[Literal["new", "expansion"], Form()] = "new",
    crs: Annotated[str, Form()] = "wgs84",
) -> SitingForm:
    """The upload's form fields."""
    return SitingForm(industry_code, media, project, crs)


SitingFormDep = Annotated[SitingForm, Depends(siting_form)]


@router.post("/check")
def check(body: SitingCheck, session: SessionDep, user: StaffUser, request: Request) -> dict:
    """Verdict, applicable rules with their legal basis, zones touched (overlap and share),
    nearest protection zones and intakes, and the control unit's access list."""
    return run_check(session, body, request).to_dict()


@router.post("/check-file")
async def check_file(
    session: SessionDep,
    user: StaffUser,
    request: Request,
    file: Annotated[UploadFile, File(description="GeoJSON, KML, zipped Shapefile or GeoPackage")],
    form: SitingFormDep,
) -> dict:
    """The same check for an uploaded file (size limited by PERMITMAP_SITING_MAX_UPLOAD_BYTES)."""
    upload = await read_upload(file, request)
    result = await run_in_threadpool(run_file_check, session, upload, form, request)
    return result.to_dict()

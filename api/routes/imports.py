"""Imports over HTTP: POST a file (multipart) with its kind; the same checks and all-or-nothing
write as `permitmap import`. A rejected file is a 422 problem listing every problem found (row,
field, value, message); a dry run or a written import returns the report. Supervisors and admins
import; staff list past imports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel
from sqlalchemy import text

from api.auth import StaffUser, role_user
from api.deps import ClockDep, SessionDep
from geo.coords import parse_crs
from geo.errors import ValidationError
from geo.imports.base import ImportSource
from geo.imports.run import IMPORT_KINDS, ImportOptions, run_import

router = APIRouter(tags=["imports"])
IMPORT_ROLES = ("supervisor",)  # and admins
ImportingUser = role_user(*IMPORT_ROLES)


class ProblemOut(BaseModel):
    """One thing wrong in the file."""

    row: int | None = None
    field: str | None = None
    value: str | None = None
    message: str


class ImportReportOut(BaseModel):
    """What an import found and did (would do, on a dry run)."""

    kind: str
    filename: str
    dry_run: bool
    ok: bool
    rows: int
    inserted: int
    updated: int
    unchanged: int
    problem_count: int
    problems: list[ProblemOut]
    notes: list[str]
    run_id: int | None
    screening: str | None


class ImportRunOut(BaseModel):
    """A past import that wrote."""

    id: int
    kind: str
    filename: str
    sha256: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    actor: str
    screening_run_id: int | None
    at: datetime


@router.post("/api/imports", response_model=ImportReportOut)
def post_import(
    kind: Annotated[str, Form(description=" | ".join(IMPORT_KINDS))],
    file: Annotated[
        UploadFile, File(description=".xlsx/.csv; GIS files for zones, regions and rivers")
    ],
    session: SessionDep,
    user: ImportingUser,
    clock: ClockDep,
    request: Request,
    crs: Annotated[str | None, Form(description="wgs84 | cgcs2000 | gcj02 | bd09")] = None,
    encoding: Annotated[
        str | None, Form(description="a CSV's encoding; detected if absent")
    ] = None,
    dry_run: Annotated[bool, Form()] = False,
    allow_bad_check_digit: Annotated[bool, Form()] = False,
) -> dict:
    """Check a file and, unless `dry_run`, write it all (or nothing) and re-screen what changed
    (size-limited by PERMITMAP_IMPORT_MAX_BYTES)."""
    limits = request.app.state.settings.imports
    data = file.file.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ValidationError(
            f"the file is larger than the limit of {limits.max_bytes:,} bytes",
            field="file",
            value=file.filename,
        )
    source = ImportSource(
        data=data,
        filename=file.filename or "upload",
        limits=limits,
        crs=parse_crs(crs) if crs else None,
        encoding=encoding or None,  # a form's empty field: detect it
    )
    options = ImportOptions(dry_run=dry_run, allow_bad_check_digit=allow_bad_check_digit)
    report = run_import(session, kind, source, options=options, now=clock.now())
    return report.as_dict()


@router.get("/api/imports", response_model=list[ImportRunOut])
def list_imports(
    session: SessionDep,
    user: StaffUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """The latest imports that wrote, newest first."""
    rows = session.execute(
        text(
            "SELECT id, kind, filename, sha256, rows, inserted, updated, unchanged, actor,"
            " screening_run_id, at FROM import_runs ORDER BY id DESC LIMIT :n"
        ),
        {"n": limit},
    ).mappings()
    return [dict(row) for row in rows]

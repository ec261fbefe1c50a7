"""The problem ledger (问题台账), rectification (限期整改) and its evidence (staff only).

Opening: inspectors, reviewers and supervisors. Steps: open → rectifying → submitted
(inspector; submitting needs evidence), submitted → verified (reviewer), verified → closed 销号
(supervisor); a supervisor may send submitted or verified back to rectifying with a reason.
Admins may do everything. Every step and edit sends the `version` it read: a stale one is a 409.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.auth import StaffUser, role_user
from api.deps import ClockDep, SessionDep
from geo.attachments import (
    AttachmentStore,
    attachments_of,
    check_evidence,
    clean_filename,
    content_disposition,
    get_attachment,
    record_attachment,
)
from geo.errors import NotFoundError
from geo.problem_ledger import dashboard, get_problem, list_problems, parse_month
from geo.problem_rules import EDIT_ROLES, OPEN_ROLES, SOURCES, STATUSES, TRANSITIONS
from geo.problems import (
    check_evidence_allowed,
    edit_problem,
    evidence_added,
    open_from_flag,
    open_problem,
    transition,
)

router = APIRouter(prefix="/api", tags=["problems"])
OpenerUser = role_user(*OPEN_ROLES)
EditorUser = role_user(*EDIT_ROLES)
Source = Literal[SOURCES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


class ProblemIn(BaseModel):
    """A problem to put on the ledger."""

    source: Source
    problem_type: str = Field(examples=["rectification_order", "permit_quality"])
    unit_id: int
    outlet_id: int | None = None
    finding: str = Field(max_length=4000)
    department: str = Field(max_length=200, examples=["江津区生态环境局执法支队"])
    deadline: date | None = Field(default=None, description="3–12 months from today")


class FlagProblemIn(BaseModel):
    """The problem a confirmed screening flag opens (the finding defaults to the flag's rule)."""

    department: str = Field(max_length=200)
    deadline: date | None = None
    problem_type: str = "zone_violation"
    finding: str | None = Field(default=None, max_length=4000)


class TransitionIn(BaseModel):
    """A step of the workflow, with the version the caller read."""

    to: str = Field(examples=["rectifying"])
    version: int = Field(ge=1)
    note: str | None = Field(default=None, max_length=2000)


class EditIn(BaseModel):
    """Changes to a problem (only the fields sent), with the version the caller read."""

    version: int = Field(ge=1)
    finding: str | None = Field(default=None, max_length=4000)
    department: str | None = Field(default=None, max_length=200)
    deadline: date | None = None
    note: str | None = Field(default=None, max_length=2000)


class EventOut(BaseModel):
    """One entry of a problem's history."""

    at: datetime
    actor: str
    event: str
    from_status: str | None
    to_status: str | None
    version: int
    note: str | None


class AttachmentOut(BaseModel):
    """An evidence file (download it from `url`)."""

    id: int
    original_name: str
    media_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    url: str


class ProblemOut(BaseModel):
    """A problem as listed."""

    id: int
    source: str
    problem_type: str
    unit_id: int
    unit_name: str
    county_code: str
    outlet_id: int | None
    flag_id: int | None
    finding: str
    department: str
    deadline: date | None
    status: str
    version: int
    opened_on: date
    opened_by: str
    closed_at: datetime | None
    overdue: bool


class ProblemDetail(ProblemOut):
    """A problem with its history, its evidence and the steps it may take next."""

    events: list[EventOut]
    attachments: list[AttachmentOut]
    next: dict[str, list[str]] = Field(description="next status → roles that may take the step")


class ProblemPageOut(BaseModel):
    """A page of problems."""

    items: list[ProblemOut]
    total: int
    page: int
    page_size: int


class BoardCounts(BaseModel):
    """Clear-to-zero counts: still on the ledger, overdue today, closed (销号) in the month."""

    open: int
    overdue: int
    closed_this_month: int
    cleared: bool


class BoardCounty(BoardCounts):
    """One county's counts."""

    county_code: str
    county_name: str


class BoardOut(BaseModel):
    """The 清零 dashboard."""

    month: str
    as_of: date
    counties: list[BoardCounty]
    total: BoardCounts


def detail(session: Session, problem_id: int, clock: ClockDep) -> dict:
    """A problem with its events, attachments and next steps."""
    found = get_problem(session, problem_id=problem_id, today=clock.today())
    steps = {to: list(step.roles) for (f, to), step in TRANSITIONS.items() if f == found["status"]}
    evidence = [a.public_dict() for a in attachments_of(session, problem_id=problem_id)]
    return {**found, "attachments": evidence, "next": steps}


@router.get("/problems/dashboard", response_model=BoardOut)
def get_dashboard(
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    month: Annotated[str | None, Query(description="YYYY-MM; this month when left out")] = None,
) -> dict:
    """Per county: problems not yet closed, overdue ones, and those closed in the month."""
    today = clock.today()
    return dashboard(session, month=parse_month(month, today=today), today=today)


@router.get("/problems", response_model=ProblemPageOut)
def get_problems(
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    status: Status | None = None,
    overdue: bool | None = None,
    unit_id: int | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict:
    """The ledger, filtered; soonest deadline first."""
    filters = {"county": county, "status": status, "overdue": overdue, "unit_id": unit_id}
    found = list_problems(
        session, filters=filters, today=clock.today(), page=page, page_size=page_size
    )
    return {"items": found.items, "total": found.total, "page": page, "page_size": page_size}


@router.post("/problems", status_code=201, response_model=ProblemDetail)
def post_problem(body: ProblemIn, session: SessionDep, user: OpenerUser, clock: ClockDep) -> dict:
    """Put a problem on the ledger (status open)."""
    problem_id = open_problem(
        session,
        **body.model_dump(),
        today=clock.today(),
        opened_by=user.name,
    )
    return detail(session, problem_id, clock)


@router.get("/problems/{problem_id}", response_model=ProblemDetail)
def get_one(problem_id: int, session: SessionDep, user: StaffUser, clock: ClockDep) -> dict:
    """A problem with its history and evidence."""
    return detail(session, problem_id, clock)


@router.patch("/problems/{problem_id}", response_model=ProblemDetail)
def patch_problem(
    problem_id: int, body: EditIn, session: SessionDep, user: EditorUser, clock: ClockDep
) -> dict:
    """Change finding, department or deadline (a new deadline needs a `note`)."""
    changes = body.model_dump(include=body.model_fields_set - {"version", "note"})
    edit_problem(
        session,
        problem_id=problem_id,
        version=body.version,
        changes=changes,
        note=body.note,
        actor=user.name,
        now=clock.now(),
    )
    return detail(session, problem_id, clock)


@router.post("/problems/{problem_id}/transitions", response_model=ProblemDetail)
def post_transition(
    problem_id: int, body: TransitionIn, session: SessionDep, user: StaffUser, clock: ClockDep
) -> dict:
    """Take one step of the workflow (who may take which step: see `next`)."""
    transition(
        session,
        problem_id=problem_id,
        to=body.to,
        version=body.version,
        note=body.note,
        actor=user.name,
        role=user.role,
        now=clock.now(),
    )
    return detail(session, problem_id, clock)


@router.post("/problems/{problem_id}/attachments", status_code=201, response_model=AttachmentOut)
def post_attachment(
    problem_id: int,
    file: Annotated[UploadFile, File(description="PDF, JPEG, PNG, docx or xlsx")],
    session: SessionDep,
    user: StaffUser,
    clock: ClockDep,
    request: Request,
) -> dict:
    """Add evidence while the problem is open or rectifying (checked by content, size-limited
    by PERMITMAP_ATTACHMENTS_MAX_BYTES)."""
    limits = request.app.state.settings.attachments
    check_evidence_allowed(session, problem_id=problem_id)
    data = file.file.read(limits.max_bytes + 1)
    name = clean_filename(file.filename)
    kind = check_evidence(data, name, limits=limits)
    store = AttachmentStore(limits.dir)
    stored = store.save(data)
    try:
        found = record_attachment(
            session,
            problem_id=problem_id,
            stored_name=stored,
            original_name=name,
            kind=kind,
            data=data,
            uploaded_by=user.name,
            now=clock.now(),
        )
        evidence_added(
            session,
            problem_id=problem_id,
            attachment_id=found.id,
            name=name,
            actor=user.name,
            now=clock.now(),
        )
    except Exception:
        store.remove(stored)
        raise
    return found.public_dict()


@router.get("/problems/{problem_id}/attachments/{attachment_id}", response_class=FileResponse)
def download_attachment(
    problem_id: int, attachment_id: int, session: SessionDep, user: StaffUser, request: Request
) -> FileResponse:
    """The evidence file, always as a download (never rendered in the browser)."""
    found = get_attachment(session, problem_id=problem_id, attachment_id=attachment_id)
    path = AttachmentStore(request.app.state.settings.attachments.dir).path(found.stored_name)
    if not path.is_file():
        raise NotFoundError("the attachment's file is missing", detail=f"missing {path}")
    headers = {**DOWNLOAD_HEADERS, "Content-Disposition": content_disposition(found.original_name)}
    return FileResponse(path, media_type=found.media_type, headers=headers)


@router.post("/flags/{flag_id}/problem", status_code=201, response_model=ProblemDetail)
def post_flag_problem(
    flag_id: int, body: FlagProblemIn, session: SessionDep, user: OpenerUser, clock: ClockDep
) -> dict:
    """Open the problem of a confirmed flag in one step (one problem per flag: again → 409)."""
    problem_id = open_from_flag(
        session,
        flag_id=flag_id,
        department=body.department,
        deadline=body.deadline,
        today=clock.today(),
        now=clock.now(),
        opened_by=user.name,
        problem_type=body.problem_type,
        finding=body.finding,
    )
    return detail(session, problem_id, clock)

"""Permit lifecycle (staff) and the monthly expiry reminders.

Transitions and who may make them (admins may make any): issue, change (变更), renew (延续) and
cancel (注销) by reviewers; revoke (撤销) and withdraw (吊销) by supervisors. Every transition
of an existing permit sends the `version` it read: a stale one is a 409 and nothing is written.
The rules are geo/permit_rules.py's and geo/permits.py's; the reminders geo/reminders.py's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.auth import StaffUser, role_user
from api.deps import ClockDep, SessionDep
from geo.permit_rules import TRANSITION_ROLES, CancelGround, PermitRecord, Transition
from geo.permits import (
    Amendment,
    NewPermit,
    Terms,
    change_permit,
    end_permit,
    get_permit,
    issue_permit,
    permit_history,
    renew_permit,
)
from geo.reminders import (
    ReminderCache,
    ReminderList,
    check_county,
    export_header,
    export_rows,
    monthly_reminders,
    parse_month,
)
from layers.export import MEDIA_TYPES, csv_chunks, xlsx_chunks

router = APIRouter(tags=["permits"])
_CACHE_LOCK = threading.Lock()
EXPORT_PAGE = 5_000
IssuerUser = role_user(*TRANSITION_ROLES[Transition.ISSUE])
ChangerUser = role_user(*TRANSITION_ROLES[Transition.CHANGE])
RenewerUser = role_user(*TRANSITION_ROLES[Transition.RENEW])
CancellerUser = role_user(*TRANSITION_ROLES[Transition.CANCEL])
RevokerUser = role_user(*TRANSITION_ROLES[Transition.REVOKE])
WithdrawerUser = role_user(*TRANSITION_ROLES[Transition.WITHDRAW])
Frequency = Literal["annual", "semiannual", "quarterly", "monthly"]
Version = Annotated[int, Field(ge=1, description="the permit's version as read")]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class IssueIn(BaseModel):
    """A permit to issue (dates default: issued today, valid from then, for five years)."""

    permit_no: str = Field(max_length=40, examples=["91130200699229617X001P"])
    authority: str = Field(min_length=1, max_length=200, examples=["重庆市江津区生态环境局"])
    issued_on: date | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    report_frequencies: list[Frequency] = []
    note: str | None = Field(default=None, max_length=2000)


class ChangeIn(BaseModel):
    """变更: what changed (the reason is required), and the permit fields it alters."""

    version: Version
    reason: Reason = Field(examples=["单位名称变更"])
    authority: str | None = Field(default=None, min_length=1, max_length=200)
    report_frequencies: list[Frequency] | None = None


class RenewIn(BaseModel):
    """延续: the new period (default: from the day after the current one, five years)."""

    version: Version
    issued_on: date | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    authority: str | None = Field(default=None, min_length=1, max_length=200)
    report_frequencies: list[Frequency] | None = None
    note: str | None = Field(default=None, max_length=2000)


class EndIn(BaseModel):
    """撤销 / 吊销: why."""

    version: Version
    reason: Reason


class CancelIn(EndIn):
    """注销: why, and on which ground (the unit closed, the permit expired, the holder applied)."""

    ground: CancelGround


class HistoryOut(BaseModel):
    """A row of the permit's history; `changes` maps each changed field to [before, after]."""

    id: int
    change: str
    note: str | None
    actor: str | None
    changed_at: datetime
    version: int | None
    changes: dict[str, list[Any]]


class PermitOut(BaseModel):
    """A permit, its unit, its version and the transitions its state allows today."""

    id: int
    permit_no: str
    unit_id: int
    unit_name: str
    credit_code: str
    county_code: str
    unit_status: str
    kind: str
    status: str
    in_force: bool
    issued_on: date
    valid_from: date
    valid_to: date
    authority: str
    report_frequencies: list[str]
    version: int
    transitions: list[str]
    history: list[HistoryOut]


def _out(session: Session, permit: PermitRecord, today: date) -> PermitOut:
    fields = {k: v for k, v in vars(permit).items() if k not in ("created_at", "updated_at")}
    history = [HistoryOut(**vars(h)) for h in permit_history(session, permit_id=permit.id)]
    return PermitOut(
        **fields,
        in_force=permit.in_force(today),
        transitions=permit.transitions(today),
        history=history,
    )


@router.post("/api/units/{unit_id}/permits", status_code=201, response_model=PermitOut)
def post_issue(
    unit_id: int,
    body: IssueIn,
    session: SessionDep,
    clock: ClockDep,
    user: IssuerUser,
    response: Response,
) -> PermitOut:
    """Issue a permit (a registration for a registration-category unit). 404 unknown unit; 409
    closed unit, a permit already in force, or a duplicate number; 422 bad number or dates."""
    terms = Terms(body.issued_on, body.valid_from, body.valid_to)
    new = NewPermit(
        body.permit_no, body.authority, terms, tuple(body.report_frequencies), body.note
    )
    today = clock.today()
    permit = issue_permit(session, unit_id=unit_id, new=new, now=clock.now(), today=today)
    response.headers["Location"] = f"/api/permits/{permit.id}"
    return _out(session, permit, today)


@router.get("/api/permits/{permit_id}", response_model=PermitOut)
def get_one(permit_id: int, session: SessionDep, clock: ClockDep, user: StaffUser) -> PermitOut:
    """A permit with its history (oldest first), version and allowed transitions."""
    return _out(session, get_permit(session, permit_id=permit_id), clock.today())


@router.post("/api/permits/{permit_id}/change", response_model=PermitOut)
def post_change(
    permit_id: int, body: ChangeIn, session: SessionDep, clock: ClockDep, user: ChangerUser
) -> PermitOut:
    """变更 of a permit in force (reviewers)."""
    frequencies = None if body.report_frequencies is None else tuple(body.report_frequencies)
    amendment = Amendment(body.authority, frequencies)
    today = clock.today()
    permit = change_permit(
        session,
        permit_id=permit_id,
        version=body.version,
        reason=body.reason,
        amendment=amendment,
        now=clock.now(),
        today=today,
    )
    return _out(session, permit, today)


@router.post("/api/permits/{permit_id}/renew", response_model=PermitOut)
def post_renew(
    permit_id: int, body: RenewIn, session: SessionDep, clock: ClockDep, user: RenewerUser
) -> PermitOut:
    """延续 of a valid or expired permit of a unit that is not closed (reviewers)."""
    frequencies = None if body.report_frequencies is None else tuple(body.report_frequencies)
    today = clock.today()
    permit = renew_permit(
        session,
        permit_id=permit_id,
        version=body.version,
        terms=Terms(body.issued_on, body.valid_from, body.valid_to),
        amendment=Amendment(body.authority, frequencies),
        note=body.note,
        now=clock.now(),
        today=today,
    )
    return _out(session, permit, today)


def _end(
    session: SessionDep,
    clock: ClockDep,
    permit_id: int,
    transition: Transition,
    body: EndIn,
    ground: CancelGround | None = None,
) -> PermitOut:
    today = clock.today()
    permit = end_permit(
        session,
        permit_id=permit_id,
        version=body.version,
        transition=transition,
        reason=body.reason,
        ground=ground,
        now=clock.now(),
        today=today,
    )
    return _out(session, permit, today)


@router.post("/api/permits/{permit_id}/cancel", response_model=PermitOut)
def post_cancel(
    permit_id: int, body: CancelIn, session: SessionDep, clock: ClockDep, user: CancellerUser
) -> PermitOut:
    """注销 of a valid or expired permit (reviewers): `unit_closed` needs a closed unit,
    `expired` a permit past its validity; `holder_request` is the holder's application."""
    return _end(session, clock, permit_id, Transition.CANCEL, body, body.ground)


@router.post("/api/permits/{permit_id}/revoke", response_model=PermitOut)
def post_revoke(
    permit_id: int, body: EndIn, session: SessionDep, clock: ClockDep, user: RevokerUser
) -> PermitOut:
    """撤销 of a valid or expired permit (supervisors)."""
    return _end(session, clock, permit_id, Transition.REVOKE, body)


@router.post("/api/permits/{permit_id}/withdraw", response_model=PermitOut)
def post_withdraw(
    permit_id: int, body: EndIn, session: SessionDep, clock: ClockDep, user: WithdrawerUser
) -> PermitOut:
    """吊销 of a permit in force (supervisors)."""
    return _end(session, clock, permit_id, Transition.WITHDRAW, body)


REMINDER_RESPONSES: dict[int | str, dict] = {
    200: {
        "content": {"text/csv": {}, MEDIA_TYPES["xlsx"]: {}},
        "description": "the list as JSON, or a CSV (UTF-8 with a BOM) or XLSX file",
    }
}


def reminder_cache(request: Request) -> ReminderCache:
    """The app's cache of reminder lists, made on first use."""
    state = request.app.state
    with _CACHE_LOCK:
        if getattr(state, "reminder_cache", None) is None:
            state.reminder_cache = ReminderCache()
        return state.reminder_cache


@router.get("/api/reminders", response_model=ReminderList, responses=REMINDER_RESPONSES)
def get_reminders(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    user: StaffUser,
    month: Annotated[str | None, Query(description="YYYY-MM (default: this month)")] = None,
    county: Annotated[str | None, Query(description="6-digit county code")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
    lang: Annotated[Literal["zh", "en"], Query(description="export column titles")] = "zh",
) -> Response:
    """The month's reminders per county, taken on its first day: permits expired, expiring
    within 30, 60 and 90 days, and closed units' permits to cancel (`closed_unit`)."""
    first = parse_month(month) if month else clock.today().replace(day=1)
    county = check_county(county)
    if format == "json":
        body = reminder_cache(request).json(session, month=first, county=county)
        return Response(body, media_type="application/json")
    reminders = monthly_reminders(session, month=first, county=county)
    header, rows = export_header(lang), export_rows(reminders, lang)
    pages = [rows[i : i + EXPORT_PAGE] for i in range(0, len(rows), EXPORT_PAGE)]
    chunks: Iterator[bytes] = (
        csv_chunks(header, pages)
        if format == "csv"
        else xlsx_chunks(f"排污许可到期提醒 {reminders.month}", header, pages)
    )
    name = f"reminders-{reminders.month}{'-' + county if county else ''}.{format}"
    titled = quote(f"排污许可到期提醒-{reminders.month}.{format}", safe="")
    disposition = f"attachment; filename=\"{name}\"; filename*=UTF-8''{titled}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[format], headers=headers)

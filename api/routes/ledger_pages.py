"""The problem ledger's pages for staff: `/ledger` (the clear-to-zero board of the month, the
ledger filtered by county, status and overdue, soonest deadline first) and `/ledger/{id}` (one
problem: its facts, history and evidence, the steps the signed-in user may take and the evidence
form, which the page's script sends to the problems API)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import text

from api.deps import ClockDep, SessionDep
from api.routes.pages import PageUser, page_context, respond_page, to_sign_in
from geo.attachments import attachments_of
from geo.clock import CHINA
from geo.errors import NotFoundError
from geo.problem_ledger import dashboard, get_problem, list_problems
from geo.problem_rules import EVIDENCE_STATES, STATUSES, TRANSITIONS
from web.pages import render_page

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
Status = Literal[STATUSES]  # type: ignore[valid-type]


@router.get("/ledger", response_class=HTMLResponse)
def ledger_page(
    user: PageUser,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    county: Annotated[str | None, Query(pattern=r"^(\d{6})?$")] = None,
    status: Annotated[Status | Literal[""] | None, Query()] = None,
    overdue: bool = False,
    unit_id: Annotated[int | None, Query(ge=1)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """The board of the month and one page of the filtered ledger (`unit_id`: one unit's, the
    unit panel's link)."""
    if user is None:
        return to_sign_in(request)
    today = clock.today()
    filters = {
        "county": county or None,
        "status": status or None,
        "overdue": overdue or None,
        "unit_id": unit_id,
    }
    found = list_problems(session, filters=filters, today=today, page=page, page_size=PAGE_SIZE)
    counties = session.execute(
        text("SELECT code, name FROM admin_regions WHERE level = 'county' ORDER BY code")
    ).all()
    context = page_context(
        request,
        user,
        board=dashboard(session, month=today.replace(day=1), today=today),
        problems=found.items,
        total=found.total,
        page=page,
        pages=max(1, -(-found.total // PAGE_SIZE)),
        counties=[tuple(c) for c in counties],
        statuses=STATUSES,
        chosen={"county": county or "", "status": status or "", "overdue": overdue},
        unit_id=unit_id,
    )
    return respond_page(request, render_page("ledger.html", context))


@router.get("/ledger/{problem_id}", response_class=HTMLResponse)
def problem_page(
    problem_id: int, user: PageUser, request: Request, session: SessionDep, clock: ClockDep
) -> Response:
    """One problem, with the steps this user may take now."""
    if user is None:
        return to_sign_in(request)
    try:
        problem = get_problem(session, problem_id=problem_id, today=clock.today())
    except NotFoundError as missing:
        context = page_context(request, user, message=missing.message)
        return respond_page(request, render_page("not_found.html", context), status_code=404)
    steps = [
        {"to": to, "needs_note": step.needs_note, "needs_evidence": step.needs_evidence}
        for (before, to), step in TRANSITIONS.items()
        if before == problem["status"] and user.may(step.roles)
    ]
    evidence = [a.public_dict() for a in attachments_of(session, problem_id=problem_id)]
    context = page_context(
        request,
        user,
        problem=problem,
        steps=steps,
        evidence=evidence,
        may_add_evidence=problem["status"] in EVIDENCE_STATES,
        china=CHINA,
    )
    return respond_page(request, render_page("problem.html", context))

"""Random inspections (双随机、一公开) and permit quality spot checks: draws, replays,
publication, results, conflicts, the positive list, and the public record (JSON and pages).

Supervisors run and publish draws and record conflicts; inspectors (reviewers, for permit
checks) enter results for the units assigned to them, supervisors for any. The seed of a draw
comes from the request or from `new_seed`, a dependency tests replace.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from api.auth import StaffUser, User, role_user
from api.deps import ClockDep, SessionDep
from api.routes.pages import PageUser, page_context, respond_page
from geo.draws import DrawRequest, create_draw, publish_draw, replay_draw
from geo.errors import NotFoundError
from geo.inspections import (
    Enterer,
    ResultInput,
    add_to_positive_list,
    conflicts,
    draw_detail,
    draws,
    enter_result,
    positive_list,
    public_draw,
    public_draws,
    record_conflict,
    remove_from_positive_list,
    update_result,
)
from geo.models_inspections import DrawKind, InspectionConclusion
from web.filters import CATEGORIES
from web.i18n import messages
from web.pages import render_page

router = APIRouter()

SupervisorUser = role_user("supervisor")
ResultUser = role_user("inspector", "reviewer", "supervisor")
Ratio = Annotated[float, Field(ge=0, le=1)]
MAX_SEED = 2**63 - 1


def new_seed() -> int:
    """A fresh random seed for a draw that names none (stored with the draw)."""
    return secrets.randbelow(MAX_SEED + 1)


SeedDep = Annotated[int, Depends(new_seed)]
DrawId = Annotated[int, Path(ge=1, le=MAX_SEED)]
UnitId = Annotated[int, Path(ge=1, le=MAX_SEED)]


class NewDraw(BaseModel):
    """A draw to make. Ratios by management category (inspection: key, simplified,
    registration) or by application (permit_quality: first, renewal); missing ones take the
    defaults (1.0 / 0.2 / 0.05; 0.30 / 0.20)."""

    kind: DrawKind
    year: int = Field(ge=2000, le=2100)
    period: str | None = Field(default=None, max_length=40)
    ratios: dict[str, Ratio] | None = None
    positive_list_factor: Ratio = 0.5
    counties: list[str] | None = Field(default=None, max_length=500)
    inspectors_per_unit: int = Field(default=2, ge=1, le=5)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)


class ResultBody(BaseModel):
    """An inspection's outcome."""

    conclusion: InspectionConclusion
    inspected_on: date
    findings: str | None = Field(default=None, max_length=4000)
    permit_id: int | None = None


class NewResult(ResultBody):
    """The result of a drawn unit."""

    unit_id: int


class ResultChange(ResultBody):
    """A changed result, with the version it was read at."""

    version: int = Field(ge=1)


class NewConflict(BaseModel):
    """An inspector who must never inspect a unit, and why."""

    inspector_id: int
    unit_id: int
    reason: str = Field(min_length=1, max_length=1000)


class PositiveListBody(BaseModel):
    """Why a unit is on the positive list."""

    reason: str | None = Field(default=None, max_length=1000)


@router.post("/api/draws", status_code=201, tags=["random inspections"])
def make_draw(
    body: NewDraw, session: SessionDep, clock: ClockDep, user: SupervisorUser, seed: SeedDep
) -> dict[str, Any]:
    """Draw units (or permits) at random and assign inspectors; the record is kept for replay."""
    request = DrawRequest(
        kind=body.kind,
        year=body.year,
        period=body.period,
        ratios=body.ratios,
        positive_list_factor=body.positive_list_factor,
        counties=tuple(body.counties) if body.counties is not None else None,
        inspectors_per_unit=body.inspectors_per_unit,
    )
    chosen = body.seed if body.seed is not None else seed
    draw_id = create_draw(
        session, request, seed=chosen, now=clock.now(), today=clock.today(), actor=user.name
    )
    return draw_detail(session, draw_id)


@router.get("/api/draws", tags=["random inspections"])
def list_draws(session: SessionDep, user: StaffUser) -> list[dict[str, Any]]:
    """Every draw, newest first."""
    return draws(session)


@router.get("/api/draws/{draw_id}", tags=["random inspections"])
def get_draw(draw_id: DrawId, session: SessionDep, user: StaffUser) -> dict[str, Any]:
    """A draw: parameters, strata, the items with assignees and results."""
    return draw_detail(session, draw_id)


@router.post("/api/draws/{draw_id}/replay", tags=["random inspections"])
def replay(draw_id: DrawId, session: SessionDep, user: StaffUser) -> dict[str, Any]:
    """Run the draw again from its record alone and say whether the outcome is identical."""
    return replay_draw(session, draw_id)


@router.post("/api/draws/{draw_id}/publish", tags=["random inspections"])
def publish(
    draw_id: DrawId, session: SessionDep, clock: ClockDep, user: SupervisorUser
) -> dict[str, Any]:
    """Make the draw and its results public (一公开)."""
    publish_draw(session, draw_id, now=clock.now(), actor=user.name)
    return draw_detail(session, draw_id)


def _enterer(user: User) -> Enterer:
    return Enterer(user.name, user.user_id, any_unit=user.may(("supervisor",)))


@router.post("/api/draws/{draw_id}/results", status_code=201, tags=["random inspections"])
def add_result(
    draw_id: DrawId, body: NewResult, session: SessionDep, clock: ClockDep, user: ResultUser
) -> dict[str, Any]:
    """Enter the result of a drawn unit (its assigned inspectors, or a supervisor)."""
    result = ResultInput(
        body.unit_id, body.conclusion, body.inspected_on, body.findings, body.permit_id
    )
    return enter_result(session, draw_id, result, by=_enterer(user), today=clock.today())


@router.put("/api/draws/{draw_id}/results/{unit_id}", tags=["random inspections"])
def change_result(
    draw_id: DrawId,
    unit_id: UnitId,
    body: ResultChange,
    session: SessionDep,
    clock: ClockDep,
    user: ResultUser,
) -> dict[str, Any]:
    """Change an entered result; a stale `version` is a 409 (someone changed it meanwhile)."""
    result = ResultInput(unit_id, body.conclusion, body.inspected_on, body.findings, body.permit_id)
    return update_result(
        session, draw_id, result, version=body.version, by=_enterer(user), today=clock.today()
    )


@router.post("/api/inspection-conflicts", status_code=201, tags=["random inspections"])
def add_conflict(
    body: NewConflict, session: SessionDep, clock: ClockDep, user: SupervisorUser
) -> dict[str, Any]:
    """Record that an inspector must never be assigned to a unit."""
    return record_conflict(
        session,
        inspector_id=body.inspector_id,
        unit_id=body.unit_id,
        reason=body.reason,
        actor=user.name,
        now=clock.now(),
    )


@router.get("/api/inspection-conflicts", tags=["random inspections"])
def list_conflicts(
    session: SessionDep,
    user: SupervisorUser,
    inspector_id: int | None = None,
    unit_id: int | None = None,
) -> list[dict[str, Any]]:
    """Recorded conflicts (supervisors)."""
    return conflicts(session, inspector_id=inspector_id, unit_id=unit_id)


@router.get("/api/positive-list", tags=["random inspections"])
def list_positive(session: SessionDep, user: StaffUser) -> list[dict[str, Any]]:
    """Units on the positive list (正面清单)."""
    return positive_list(session)


@router.post("/api/positive-list/{unit_id}", status_code=201, tags=["random inspections"])
def add_positive(
    unit_id: UnitId,
    session: SessionDep,
    clock: ClockDep,
    user: SupervisorUser,
    body: PositiveListBody | None = None,
) -> dict[str, Any]:
    """Put a unit on the positive list: it is drawn less often."""
    reason = body.reason if body else None
    return add_to_positive_list(session, unit_id, reason=reason, actor=user.name, now=clock.now())


@router.delete("/api/positive-list/{unit_id}", status_code=204, tags=["random inspections"])
def remove_positive(unit_id: UnitId, session: SessionDep, user: SupervisorUser) -> None:
    """Take a unit off the positive list."""
    remove_from_positive_list(session, unit_id)


# --- the public record ------------------------------------------------------------------------


@router.get("/api/public/draws", tags=["public"])
def list_public_draws(session: SessionDep) -> list[dict[str, Any]]:
    """Published draws (anyone): date, kind, parameters, seed, counts."""
    return public_draws(session)


@router.get("/api/public/draws/{draw_id}", tags=["public"])
def get_public_draw(draw_id: DrawId, session: SessionDep) -> dict[str, Any]:
    """A published draw: the units drawn, the inspectors' names, the conclusions entered."""
    return public_draw(session, draw_id)


def _labels(language: str) -> dict[str, str]:
    t = messages(language)
    labels = {value: names[language] for value, names in CATEGORIES.items()}
    labels |= {"first": t["first_application"], "renewal": t["re_application"]}
    return labels


@router.get("/public/draws", response_class=HTMLResponse, include_in_schema=False)
def public_draws_page(user: PageUser, request: Request, session: SessionDep) -> Response:
    """The public list of published draws."""
    context = page_context(request, user, draws=public_draws(session), draw=None)
    return respond_page(request, render_page("public_draws.html", context))


@router.get("/public/draws/{draw_id}", response_class=HTMLResponse, include_in_schema=False)
def public_draw_page(
    draw_id: DrawId, user: PageUser, request: Request, session: SessionDep
) -> Response:
    """A published draw's public page."""
    try:
        draw = public_draw(session, draw_id)
    except NotFoundError as missing:
        context = page_context(request, user, message=missing.message)
        return respond_page(request, render_page("not_found.html", context), status_code=404)
    language = page_context(request, user).language
    context = page_context(request, user, draws=None, draw=draw, labels=_labels(language))
    return respond_page(request, render_page("public_draws.html", context))

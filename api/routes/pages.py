"""The HTML pages: staff map, siting page and report, public disclosure map and unit pages,
sign-in. Data come from the same functions as the JSON API; `web.pages` renders them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.auth import SESSION_COOKIE, StaffUser, User, check_credentials, current_user
from api.deps import SessionDep, SessionFactoryDep
from api.routes.siting import (
    SitingCheck,
    SitingFormDep,
    read_upload,
    run_check,
    run_file_check,
)
from api.routes.tiles import base_url
from geo.clock import CHINA
from geo.errors import (
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    TooManyAttemptsError,
    ValidationError,
)
from geo.monitoring.series import public_daily_averages
from geo.siting import SitingResult
from geo.users import close_session, csrf_token, open_session
from layers.declarations import Audience
from layers.disclosure import public_unit
from layers.metadata import describe_layer
from layers.registry import LAYERS, layers_for
from web.filters import staff_filters
from web.i18n import LANGUAGE_COOKIE, choose_language, messages
from web.maps import MapParts, MapSpec, build_map
from web.pages import Page, PageContext, render_page
from web.public_unit import public_unit_view

router = APIRouter(include_in_schema=False)

STAFF_SHOWN = frozenset({"units", "zones_water_protection"})
SITING_SHOWN = frozenset(
    {"zones_water_protection", "zones_ecological_redline", "zones_nature_reserve"}
)
PUBLIC_SHOWN = frozenset({"units", "zones_water_protection"})


def _language(request: Request) -> str:
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE))


async def page_user(request: Request, sessions: SessionFactoryDep) -> User | None:
    """The signed-in caller of a page, or None (a stale cookie just means "sign in again")."""
    try:
        return await current_user(request, sessions)
    except (AuthenticationError, ForbiddenError):
        return None


PageUser = Annotated[User | None, Depends(page_user)]


def page_context(request: Request, user: User | None, **extra: Any) -> PageContext:
    """What every page knows: language, path, who is signed in, the CSRF token, `extra`."""
    cookie = request.cookies.get(SESSION_COOKIE)
    basemap = request.app.state.settings.web.basemap_url or ""
    origin = urlsplit(basemap)
    return PageContext(
        language=_language(request),
        path=request.url.path,
        user=user.name if user else None,
        csrf=csrf_token(cookie) if user and cookie else None,
        image_origins=(f"{origin.scheme}://{origin.netloc}",) if origin.netloc else (),
        extra=extra,
    )


def respond_page(request: Request, page: Page, status_code: int = 200) -> HTMLResponse:
    """The page with its CSP and hardening headers; remembers a `?lang=` choice in a cookie."""
    response = HTMLResponse(page.html, status_code=status_code)
    response.headers["Content-Security-Policy"] = page.csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    asked = request.query_params.get("lang")
    if asked and asked == _language(request):
        response.set_cookie(LANGUAGE_COOKIE, asked, max_age=365 * 86400, samesite="lax")
    return response


def to_sign_in(request: Request) -> RedirectResponse:
    """A redirect to the sign-in form that comes back to this page."""
    return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)


def _map_layers(request: Request, audience: Audience) -> list[dict[str, Any]]:
    return [describe_layer(layer, audience, base_url(request)) for layer in layers_for(audience)]


def _map(
    request: Request,
    session: Session,
    layers: list[dict[str, Any]],
    shown: frozenset[str],
    *,
    draw: bool = False,
    site: dict[str, Any] | None = None,
) -> MapParts:
    """The page's map, fitted to the province (or to `site`, a GeoJSON geometry)."""
    province = request.app.state.layer_extents.bounds(session, LAYERS["admin_regions"])
    known = all(isinstance(b, float | int) for b in province)
    bounds, max_zoom = (shape(site).bounds, 15) if site is not None else (province, None)
    valid = all(isinstance(b, float | int) for b in bounds)
    settings = request.app.state.settings.web
    spec = MapSpec(
        layers=layers,
        shown=shown,
        language=_language(request),
        bounds=bounds if valid else None,
        max_zoom=max_zoom,
        data_bounds=province if known else None,
        draw=draw,
        xyz_url=settings.basemap_url,
        xyz_attribution=settings.basemap_attribution,
    )
    return build_map(spec)


@router.get("/", response_class=HTMLResponse)
async def home(user: PageUser) -> Response:
    """Staff land on their map, everyone else on the public map."""
    return RedirectResponse("/map" if user else "/public", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/map") -> Response:
    """The sign-in form."""
    context = page_context(request, None, next=_local_path(next), error=False)
    return respond_page(request, render_page("login.html", context))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/map",
) -> Response:
    """Check the user's password; on success open a browser session and go on to `next`."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        raise ForbiddenError("sign-in from another site is refused")
    try:
        user = check_credentials(request, session, username, password)
    except TooManyAttemptsError as locked:
        until = datetime.now(CHINA) + timedelta(seconds=locked.retry_after)
        context = page_context(
            request, None, next=_local_path(next), locked_until=f"{until:%H:%M}", username=username
        )
        refused = respond_page(request, render_page("login.html", context), status_code=429)
        refused.headers["Retry-After"] = str(locked.retry_after)
        return refused
    if user is None:  # answered, not raised: the transaction commits the failure's count
        context = page_context(request, None, next=_local_path(next), error=True, username=username)
        return respond_page(request, render_page("login.html", context), status_code=401)
    lifetime = timedelta(hours=request.app.state.settings.auth.session_hours)
    token = open_session(session, user, kind="browser", now=datetime.now(UTC), lifetime=lifetime)
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """End the browser session and forget its cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        close_session(session, cookie, now=datetime.now(UTC))
    response = RedirectResponse("/public", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/map", response_class=HTMLResponse)
def staff_map(user: PageUser, request: Request, session: SessionDep) -> Response:
    """The staff map: every layer, filters, search, the unit panel, exports."""
    if user is None:
        return to_sign_in(request)
    layers, language = _map_layers(request, Audience.STAFF), _language(request)
    counties = session.execute(
        text("SELECT code, name FROM admin_regions WHERE level = 'county' ORDER BY code")
    ).all()
    filters = staff_filters(layers, [tuple(c) for c in counties], messages(language), language)
    return _map_page(request, session, user, "staff", layers, filters=filters)


@router.get("/siting", response_class=HTMLResponse)
def siting_page(user: PageUser, request: Request, session: SessionDep) -> Response:
    """The planner's siting page: draw or upload a site, pick the industry, check it."""
    if user is None:
        return to_sign_in(request)
    return _map_page(request, session, user, "siting", _map_layers(request, Audience.STAFF))


@router.get("/public", response_class=HTMLResponse)
def public_map(user: PageUser, request: Request, session: SessionDep) -> Response:
    """The public disclosure map: public layers and public fields only."""
    return _map_page(request, session, user, "public", _map_layers(request, Audience.PUBLIC))


MAP_PAGES = {  # kind: template, overlays shown on opening, drawing tools
    "staff": ("map.html", STAFF_SHOWN, False),
    "siting": ("siting.html", SITING_SHOWN, True),
    "public": ("public.html", PUBLIC_SHOWN, False),
}


def _map_page(
    request: Request,
    session: Session,
    user: User | None,
    kind: str,
    layers: list[dict[str, Any]],
    **extra: Any,
) -> Response:
    template, shown, draw = MAP_PAGES[kind]
    context = page_context(request, user, layers=layers, page_kind=kind, **extra)
    parts = _map(request, session, layers, shown, draw=draw)
    return respond_page(request, render_page(template, context, parts))


def _result_fragment(request: Request, user: User, result: SitingResult) -> Response:
    data = result.to_dict()
    query = {
        "geometry": json.dumps(data["geometry"], separators=(",", ":")),
        "industry_code": data["industry_code"],
        "media": ",".join(data["media"]),
        "project": data["project"],
    }
    context = page_context(
        request, user, result=data, report_url="/siting/report?" + urlencode(query)
    )
    page = render_page("_siting_result.html", context)
    return respond_page(request, page)


@router.post("/siting/check", response_class=HTMLResponse)
def siting_check_fragment(
    body: SitingCheck, request: Request, session: SessionDep, user: StaffUser
) -> Response:
    """The siting page's result panel for a drawn site (HTML; the JSON is /api/siting/check)."""
    return _result_fragment(request, user, run_check(session, body, request))


@router.post("/siting/check-file", response_class=HTMLResponse)
async def siting_file_fragment(
    request: Request,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
    form: SitingFormDep,
    user: StaffUser,
) -> Response:
    """The siting page's result panel for an uploaded site."""
    upload = await read_upload(file, request)
    result = await run_in_threadpool(run_file_check, session, upload, form, request)
    return _result_fragment(request, user, result)


@router.get("/siting/report", response_class=HTMLResponse)
def siting_report(
    user: PageUser,
    request: Request,
    session: SessionDep,
    geometry: str,
    industry_code: str,
    media: str = "",
    project: str = "new",
) -> Response:
    """The printable siting report (print CSS) of a site given as GeoJSON in WGS 84."""
    if user is None:
        return to_sign_in(request)
    try:
        body = SitingCheck(
            geometry=json.loads(geometry),
            industry_code=industry_code,
            media=[m for m in media.split(",") if m],
            project=project,
        )
    except (ValueError, PydanticValidationError) as error:
        raise ValidationError("the report's parameters are not valid", field="geometry") from error
    result = run_check(session, body, request).to_dict()
    layers = [
        describe_layer(LAYERS[i], Audience.STAFF, base_url(request))
        for i in ("admin_regions", "water_bodies", "rivers", *sorted(SITING_SHOWN))
    ]
    context = page_context(
        request, user, result=result, layers=layers, generated=f"{datetime.now():%Y-%m-%d %H:%M}"
    )
    parts = _map(request, session, layers, SITING_SHOWN, site=result["geometry"])
    return respond_page(request, render_page("siting_report.html", context, parts))


@router.get("/public/units/{credit_code}", response_class=HTMLResponse)
def public_unit_page(
    credit_code: str,
    user: PageUser,
    request: Request,
    session: SessionDep,
    site: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """A unit's public page, at a stable address (its credit code) for QR codes on outlets."""
    try:
        record = public_unit(session, credit_code=credit_code, site=site)
    except NotFoundError as missing:
        context = page_context(request, user, message=missing.message)
        return respond_page(request, render_page("not_found.html", context), status_code=404)
    monitoring = None
    if record["category"] == "key":  # only key units disclose online monitoring data
        today = request.app.state.clock.today()
        monitoring = public_daily_averages(
            session, credit_code=credit_code, site=record["site"], today=today
        )
    view = public_unit_view(record, _language(request), monitoring)
    context = page_context(request, user, **view)
    return respond_page(request, render_page("public_unit.html", context))


def _local_path(target: str) -> str:
    """`target` if it is a path on this site, else the staff map (no open redirects)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/map"

"""QR codes for outlet signs (二维码标识): one outlet's code as PNG or SVG, and a printable
sheet of a county's or a unit's outlets. Staff only (they print and fix the signs)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.auth import StaffUser
from api.deps import SessionDep
from api.routes.pages import PageUser, page_context, respond_page, to_sign_in
from geo.errors import NotFoundError
from geo.outlet_labels import outlet_labels
from web.pages import render_page
from web.qr import public_url, qr_data_uri, qr_png, qr_svg

router = APIRouter(tags=["outlet QR codes"])


def _base_url(request: Request) -> str:
    configured = request.app.state.settings.web.public_base_url
    return configured or str(request.base_url)


@router.get("/api/outlets/{outlet_id}/qr")
def outlet_qr(
    outlet_id: int,
    request: Request,
    session: SessionDep,
    user: StaffUser,
    format: Literal["png", "svg"] = "png",
) -> Response:
    """The QR code of one outlet's sign: the public page of its unit (PERMITMAP_PUBLIC_BASE_URL)."""
    labels = outlet_labels(session, outlet_id=outlet_id)
    if not labels:
        raise NotFoundError(f"no outlet {outlet_id}")
    url = public_url(_base_url(request), labels[0])
    name = f"{labels[0].credit_code}-{labels[0].code}.{format}"
    headers = {"Content-Disposition": f'inline; filename="{name}"', "X-QR-Content": url}
    if format == "svg":
        return Response(qr_svg(url), media_type="image/svg+xml", headers=headers)
    return Response(qr_png(url), media_type="image/png", headers=headers)


@router.get("/qr/outlets", response_class=HTMLResponse, include_in_schema=False)
def qr_sheet(
    request: Request,
    session: SessionDep,
    user: PageUser,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    unit_id: int | None = None,
) -> Response:
    """A printable sheet of outlet signs for a county or a unit (print CSS: cards, no controls);
    anonymous visitors are sent to sign in."""
    if user is None:
        return to_sign_in(request)
    base = _base_url(request)
    cards = [
        {"label": label, "url": (url := public_url(base, label)), "image": qr_data_uri(url)}
        for label in outlet_labels(session, county=county, unit_id=unit_id)
    ]
    context = page_context(request, user, cards=cards)
    return respond_page(request, render_page("qr_sheet.html", context))

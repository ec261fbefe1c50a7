"""The staff's import page (/imports): a file, its kind and options, checked (dry run) or written
by the page's script through `POST /api/imports`; the report, or every problem of a refused
file, shown on the page; the latest imports listed below."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import text

from api.deps import SessionDep
from api.routes.imports import IMPORT_ROLES
from api.routes.pages import PageUser, page_context, respond_page, to_sign_in
from geo.imports.run import IMPORT_KINDS
from web.pages import render_page

router = APIRouter(include_in_schema=False)
RECENT_IMPORTS = 20


@router.get("/imports", response_class=HTMLResponse)
def import_page(user: PageUser, request: Request, session: SessionDep) -> Response:
    """The import form (for those who may import) and the latest imports (for all staff)."""
    if user is None:
        return to_sign_in(request)
    runs = session.execute(
        text(
            "SELECT id, kind, filename, rows, inserted, updated, unchanged, actor,"
            " to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') AS at"
            " FROM import_runs ORDER BY id DESC LIMIT :n"
        ),
        {"n": RECENT_IMPORTS},
    ).mappings()
    context = page_context(
        request,
        user,
        kinds=IMPORT_KINDS,
        may_import=user.may(IMPORT_ROLES),
        runs=[dict(run) for run in runs],
    )
    return respond_page(request, render_page("imports.html", context))

"""RFC 9457 problem details: one status map from the domain errors, no internals in 5xx bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PermitmapError,
    QueryError,
    SetupError,
    TooManyAttemptsError,
    ValidationError,
)
from geo.imports.base import ImportRejectedError

log = logging.getLogger("permitmap.api")

PROBLEM_JSON = "application/problem+json"
STATUS_BY_ERROR: dict[type[PermitmapError], int] = {
    QueryError: 400,
    ValidationError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    AuthenticationError: 401,
    ForbiddenError: 403,
    TooManyAttemptsError: 429,
    SetupError: 503,
}


def problem(status: int, title: str, detail: str | None = None, **extra: object) -> JSONResponse:
    """A problem-details response."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _status_for(exc: PermitmapError) -> int:
    for error_type in type(exc).__mro__:
        if error_type in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[error_type]
    return 500


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PermitmapError)
    status = _status_for(exc)
    if exc.detail:
        log.warning("%s %s: %s", request.method, request.url.path, exc.detail)
    extra: dict[str, object] = {}
    if isinstance(exc, ValidationError):
        extra = {k: v for k, v in (("field", exc.field), ("row", exc.row)) if v is not None}
        if exc.value is not None:
            extra["value"] = str(exc.value)
    if isinstance(exc, ImportRejectedError):  # every problem of the file, not only the first
        report = exc.report.as_dict()
        extra |= {key: report[key] for key in ("rows", "problem_count", "problems", "notes")}
    response = problem(status, exc.message, **extra)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyAttemptsError):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    return problem(422, "invalid request", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail))


async def _lost_connection(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if not exc.connection_invalidated:
        return await _unexpected_error(request, exc)
    log.warning("database connection lost on %s %s; pool renewed", request.method, request.url.path)
    response = problem(503, "the database connection was lost; try again")
    response.headers["Retry-After"] = "1"
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through problem details."""
    app.add_exception_handler(PermitmapError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _lost_connection)
    app.add_exception_handler(Exception, _unexpected_error)

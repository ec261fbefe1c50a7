"""Sign-in for API clients, who am I, users (admins), and the audit log (admins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import AdminUser, StaffUser, bearer_token, check_credentials
from api.deps import SessionDep
from api.errors import problem
from geo.audit import audit_entries
from geo.errors import NotFoundError
from geo.users import ROLES, close_session, create_user, open_session, unlock_sign_in

router = APIRouter(tags=["users and audit"])


class Credentials(BaseModel):
    """A user's name and password."""

    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class NewUser(BaseModel):
    """A user to add."""

    username: str
    display_name: str = ""
    role: str = Field(description=" | ".join(ROLES))
    password: str
    county_code: str | None = None


@router.post("/api/auth/token", response_model=None)
def sign_in(body: Credentials, session: SessionDep, request: Request) -> dict[str, Any] | Response:
    """A bearer token for the API (valid PERMITMAP_API_TOKEN_HOURS). After
    PERMITMAP_MAX_FAILED_SIGN_INS failures in a row the name is locked for
    PERMITMAP_SIGN_IN_LOCK_MINUTES: 429 with Retry-After."""
    user = check_credentials(request, session, body.username, body.password)
    if user is None:  # answered, not raised: the transaction commits the failure's count
        refused = problem(401, "the user name or password is not right")
        refused.headers["WWW-Authenticate"] = "Bearer"
        return refused
    hours = request.app.state.settings.auth.api_token_hours
    now = datetime.now(UTC)
    token = open_session(session, user, kind="api", now=now, lifetime=timedelta(hours=hours))
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": now + timedelta(hours=hours),
        "role": user.role,
    }


@router.post("/api/auth/logout", status_code=204)
def sign_out(request: Request, session: SessionDep, user: StaffUser) -> None:
    """Revoke the bearer token of this request."""
    token = bearer_token(request)
    if token:
        close_session(session, token, now=datetime.now(UTC))


@router.get("/api/auth/me")
def me(user: StaffUser) -> dict[str, Any]:
    """Who the caller is."""
    return {"name": user.name, "role": user.role, "county_code": user.county_code}


@router.post("/api/users", status_code=201)
def add_user(body: NewUser, session: SessionDep, user: AdminUser) -> dict[str, Any]:
    """Add a user (admins)."""
    user_id = create_user(
        session,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        password=body.password,
        county_code=body.county_code,
    )
    return {"id": user_id, "username": body.username, "role": body.role}


@router.post("/api/users/{username}/unlock", status_code=204)
def unlock(username: str, session: SessionDep, user: AdminUser) -> None:
    """Lift the lock that failed sign-ins put on a name before it runs out (admins; audited)."""
    if not unlock_sign_in(session, username, by=user.name):
        raise NotFoundError(f"{username!r} is not locked")


@router.get("/api/audit")
def audit(
    session: SessionDep,
    user: AdminUser,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """The audit log, newest first (admins): who, when, what, before and after."""
    return audit_entries(
        session,
        entity=entity,
        entity_id=entity_id,
        actor=actor,
        since=since,
        before_id=before_id,
        limit=limit,
    )

"""Who is calling, and what their role lets them do.

Staff sign in as users (argon2 passwords): `POST /api/auth/token` gives an API bearer token,
`/login` a browser session cookie (HttpOnly, SameSite=Strict). Both are random tokens whose
SHA-256 is kept in `auth_sessions`. A cookie authenticates reads; a write made with a cookie must
also carry the page's CSRF token (`X-CSRF-Token`, derived from the cookie, which another site can
neither read nor forge). Service tokens from settings (`PERMITMAP_STAFF_TOKENS`,
`PERMITMAP_ADMIN_TOKENS`) remain for scripts. Anonymous callers see public data only.

Roles: inspector, reviewer, supervisor, admin; an admin may do anything. A route states the
roles it admits with `role_user(...)`; `StaffUser` admits every role.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SessionFactoryDep
from geo.errors import AuthenticationError, ForbiddenError
from geo.users import (
    ROLES,
    SignedIn,
    SignInPolicy,
    authenticate,
    csrf_token,
    session_user,
    set_actor,
)
from layers.declarations import Audience

SESSION_COOKIE = "permitmap_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class User:
    """An authenticated caller: a user or a service token."""

    name: str
    role: str
    user_id: int | None = None
    county_code: str | None = None

    def may(self, roles: tuple[str, ...]) -> bool:
        """Whether this caller's role is one of `roles` (admins may do anything)."""
        return self.role == "admin" or self.role in roles


def check_credentials(
    request: Request, session: Session, username: str, password: str
) -> SignedIn | None:
    """`authenticate` now, under the configured lock after failed sign-ins."""
    auth = request.app.state.settings.auth
    policy = SignInPolicy(auth.max_failed_sign_ins, timedelta(minutes=auth.sign_in_lock_minutes))
    return authenticate(session, username, password, now=datetime.now(UTC), policy=policy)


def service_user(request: Request, token: str) -> User | None:
    """The service account a settings token belongs to, or None."""
    for known, (name, role) in request.app.state.settings.auth.tokens().items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return User(name=name, role=role)
    return None


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_user(request: Request, sessions: SessionFactoryDep) -> User | None:
    """The caller, or None when anonymous; an unknown bearer token is an error, not anonymity
    (an unknown or expired cookie is anonymity: the page offers to sign in)."""
    token = bearer_token(request)
    if token is not None:
        user = service_user(request, token) or await _session_lookup(sessions, token, "api", None)
        if user is None:
            raise AuthenticationError("the bearer token is not valid or has expired")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    idle = timedelta(minutes=request.app.state.settings.auth.session_idle_minutes)
    user = await _session_lookup(sessions, cookie, "browser", idle)
    if user is not None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(cookie).encode()):
            raise ForbiddenError("a signed-in page's write must send its CSRF token")
    return user


async def _session_lookup(
    sessions: Any, token: str, kind: str, idle: timedelta | None
) -> User | None:
    def look_up() -> User | None:
        with sessions() as session:
            now = datetime.now(UTC)
            found = session_user(session, token, kind=kind, now=now, idle=idle)
        return found and User(found.username, found.role, found.user_id, found.county_code)

    return await run_in_threadpool(look_up)


class RoleCheck:
    """A dependency admitting callers whose role is one of `roles` (and admins): 401 when
    anonymous, 403 otherwise. It names the caller as the actor of the request's transaction, so
    the audit triggers record who wrote. `roles` is read by the tests that walk every route."""

    def __init__(self, *roles: str) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        self.roles = roles

    async def __call__(
        self, user: Annotated[User | None, Depends(current_user)], session: SessionDep
    ) -> User:
        if user is None:
            raise AuthenticationError("staff only: sign in or send an Authorization: Bearer token")
        if not user.may(self.roles):
            allowed = ", ".join(r for r in self.roles if r != "admin") or "admin"
            raise ForbiddenError(f"this needs the role {allowed} (you are {user.role})")
        await run_in_threadpool(set_actor, session, user.name)
        return user


def role_user(*roles: str) -> Any:
    """`Annotated[User, …]` for a route parameter admitting these roles (and admins)."""
    return Annotated[User, Depends(RoleCheck(*roles))]


async def current_audience(user: Annotated[User | None, Depends(current_user)]) -> Audience:
    """Staff (any authenticated caller) or the anonymous public."""
    return Audience.PUBLIC if user is None else Audience.STAFF


StaffUser = role_user(*ROLES)
AdminUser = role_user("admin")
AudienceDep = Annotated[Audience, Depends(current_audience)]

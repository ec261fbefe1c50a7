"""Who is calling: bearer tokens for staff and admins; anonymous callers see public data only.

Browsers sign in once with their token (`/login`) and then carry a session cookie: the user's
name and an expiry, signed with that user's token (so changing a token ends its sessions). A
cookie authenticates reads; a write made with a cookie must also carry the page's CSRF token in
the `X-CSRF-Token` header, which another site cannot read or forge.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from geo.errors import AuthenticationError, ForbiddenError
from layers.declarations import Audience


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    name: str
    role: str  # "staff" | "admin"


SESSION_COOKIE = "permitmap_session"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _signature(token: str, message: str) -> str:
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def session_cookie(name: str, token: str, now: float | None = None) -> str:
    """The cookie value that signs `name` in until SESSION_SECONDS from now."""
    expires = int(time.time() if now is None else now) + SESSION_SECONDS
    return f"{name}|{expires}|{_signature(token, f'session|{name}|{expires}')}"


def csrf_token(cookie: str, token: str) -> str:
    """The CSRF token that goes with a session cookie (pages embed it; writes send it back)."""
    return _signature(token, f"csrf|{cookie}")


def token_user(request: Request, token: str) -> User | None:
    """The user a token belongs to, or None."""
    for known, (name, role) in request.app.state.settings.auth.tokens().items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return User(name=name, role=role)
    return None


def cookie_session(request: Request) -> tuple[User, str] | None:
    """The signed-in user of a valid, unexpired session cookie and the cookie's CSRF token."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    parts = cookie.rsplit("|", 2)
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) < time.time():
        return None
    name, expires, signature = parts
    for known, (user_name, role) in request.app.state.settings.auth.tokens().items():
        expected = _signature(known, f"session|{name}|{expires}")
        if user_name == name and hmac.compare_digest(expected.encode(), signature.encode()):
            return User(name=name, role=role), csrf_token(cookie, known)
    return None


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_user(request: Request) -> User | None:
    """The caller, or None when anonymous; an unknown token is an error, not anonymity."""
    token = _bearer(request)
    if token is None:
        return _cookie_user(request)
    user = token_user(request, token)
    if user is None:
        raise AuthenticationError("the bearer token is not valid")
    return user


def _cookie_user(request: Request) -> User | None:
    session = cookie_session(request)
    if session is None:
        return None
    user, expected_csrf = session
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), expected_csrf.encode()):
            raise ForbiddenError("a signed-in page's write must send its CSRF token")
    return user


async def require_staff(user: Annotated[User | None, Depends(current_user)]) -> User:
    """Staff or admin, else 401."""
    if user is None:
        raise AuthenticationError("staff only: send an Authorization: Bearer token")
    return user


async def require_admin(user: Annotated[User, Depends(require_staff)]) -> User:
    """Admin, else 403."""
    if user.role != "admin":
        raise ForbiddenError("admins only")
    return user


async def current_audience(user: Annotated[User | None, Depends(current_user)]) -> Audience:
    """Staff (any authenticated caller) or the anonymous public."""
    return Audience.PUBLIC if user is None else Audience.STAFF


StaffUser = Annotated[User, Depends(require_staff)]
AudienceDep = Annotated[Audience, Depends(current_audience)]
AdminUser = Annotated[User, Depends(require_admin)]

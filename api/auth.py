"""Who is calling: bearer tokens for staff and admins; anonymous callers see public data only."""

from __future__ import annotations

import hmac
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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_user(request: Request) -> User | None:
    """The caller, or None when anonymous; an unknown token is an error, not anonymity."""
    token = _bearer(request)
    if token is None:
        return None
    for known, (name, role) in request.app.state.settings.auth.tokens().items():
        if hmac.compare_digest(known.encode(), token.encode()):
            return User(name=name, role=role)
    raise AuthenticationError("the bearer token is not valid")


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

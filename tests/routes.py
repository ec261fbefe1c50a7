"""What the tests learn from the app itself: every route with its full path, and the roles a
route admits (from its RoleCheck dependency), so walks cover new routes without a list."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.auth import RoleCheck


def flat_routes(routes: list, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(full path, route) of every route, descending into included routers (FastAPI ≥ 0.165
    keeps an included router as one entry of `app.routes`)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from flat_routes(included.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + getattr(route, "path", ""), route


def _role_checks(dependant: Dependant) -> Iterator[RoleCheck]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleCheck):
            yield sub.call
        yield from _role_checks(sub)


def admitted_roles(route: APIRoute) -> tuple[str, ...] | None:
    """The roles a route admits (admins always), or None for a route open to the public."""
    checks = list(_role_checks(route.dependant))
    if not checks:
        return None
    admitted = set(checks[0].roles)
    for check in checks[1:]:
        admitted &= set(check.roles)
    return tuple(sorted(admitted | {"admin"}))


def staff_routes(app: FastAPI) -> dict[tuple[str, str], tuple[str, ...]]:
    """(method, full path) → admitted roles, for every route that needs a signed-in caller."""
    found = {}
    for path, route in flat_routes(app.routes):
        if isinstance(route, APIRoute) and (roles := admitted_roles(route)) is not None:
            for method in route.methods:
                found[(method, path)] = roles
    return found

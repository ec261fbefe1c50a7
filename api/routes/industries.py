"""The GB/T 4754-2017 industry classes, searchable, for pickers (public reference data)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import SessionDep
from geo.industries import search_industries

router = APIRouter(prefix="/api", tags=["reference"])


class IndustryOut(BaseModel):
    """A 4-digit class (小类) with its section and division."""

    code: str
    name: str
    section: str
    division: str
    heavy_water_polluter: bool


@router.get("/industries", response_model=list[IndustryOut])
def industries(
    session: SessionDep,
    q: Annotated[str | None, Query(description="start of a code, or part of a name")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[IndustryOut]:
    """Classes whose code starts with `q` or whose name contains it (code matches first), in
    code order; without `q`, the first `limit` classes."""
    return [IndustryOut(**asdict(i)) for i in search_industries(session, q=q, limit=limit)]

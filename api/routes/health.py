"""`/health`: is the database reachable, and which PostgreSQL and PostGIS does it run."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import EngineDep
from geo.db import probe

router = APIRouter(tags=["health"])


class DatabaseHealth(BaseModel):
    """Versions reported by the database."""

    postgres: str
    postgis: str | None


class Health(BaseModel):
    """The health report."""

    status: str
    database: DatabaseHealth


@router.get("/health", response_model=Health)
def health(engine: EngineDep) -> Health:
    """Report status "ok" with the database and PostGIS versions (503 when unreachable)."""
    versions = probe(engine)
    status = "ok" if versions.postgis else "degraded: PostGIS extension missing"
    return Health(
        status=status,
        database=DatabaseHealth(postgres=versions.postgres, postgis=versions.postgis),
    )

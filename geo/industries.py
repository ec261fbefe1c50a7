"""The GB/T 4754-2017 industry classes (小类) as a searchable list, for pickers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import QueryError

QUERY_MAX_CHARS = 100


@dataclass(frozen=True)
class Industry:
    """One 4-digit class, its section letter and 2-digit division."""

    code: str
    name: str
    section: str
    division: str
    heavy_water_polluter: bool


def search_industries(session: Session, *, q: str | None, limit: int) -> list[Industry]:
    """Classes whose code starts with `q` or whose name contains it (code matches first), or
    without `q` the first `limit` classes; in code order."""
    q = (q or "").strip()
    if len(q) > QUERY_MAX_CHARS or "\x00" in q:
        raise QueryError(f"q takes at most {QUERY_MAX_CHARS} characters", field="q", value=q)
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(
        text("""
        SELECT code, name, section, division, heavy_water_polluter
        FROM industry_codes
        WHERE :q = '' OR code LIKE :prefix OR name ILIKE :contains
        ORDER BY :q <> '' AND code LIKE :prefix DESC, code
        LIMIT :limit
    """),
        {"q": q, "prefix": escaped + "%", "contains": "%" + escaped + "%", "limit": limit},
    ).mappings()
    return [Industry(**row) for row in rows]

"""Reading the append-only audit log (written by triggers and by sign-in/sign-out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session


def audit_entries(
    session: Session,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest entries matching every given filter, newest first (page on with `before_id`)."""
    rows = session.execute(
        text(
            "SELECT id, at, actor, action, entity, entity_id, before, after FROM audit_log"
            " WHERE (CAST(:entity AS text) IS NULL OR entity = :entity)"
            " AND (CAST(:entity_id AS text) IS NULL OR entity_id = :entity_id)"
            " AND (CAST(:actor AS text) IS NULL OR actor = :actor)"
            " AND (CAST(:since AS timestamptz) IS NULL OR at >= :since)"
            " AND (CAST(:before_id AS bigint) IS NULL OR id < :before_id)"
            " ORDER BY id DESC LIMIT :limit"
        ),
        {
            "entity": entity,
            "entity_id": entity_id,
            "actor": actor,
            "since": since,
            "before_id": before_id,
            "limit": limit,
        },
    ).mappings()
    return [dict(row) for row in rows]

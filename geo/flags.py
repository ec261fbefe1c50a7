"""Reading and reviewing flags (what screening found)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, ValidationError

FLAG_COLUMNS = """
  f.id, f.feature_type::text, f.feature_id, f.county_code, f.zone_code, f.zone_kind::text,
  z.version AS zone_version, z.name AS zone_name, r.code AS rule, f.severity::text,
  f.legal_basis, f.classification, f.distance_m::float, f.status::text, f.status_reason,
  f.reviewer, f.reviewed_at, f.first_seen, f.last_seen
"""
FILTERS = {
    "severity": "f.severity::text = :severity",
    "zone_kind": "f.zone_kind::text = :zone_kind",
    "county": "f.county_code = :county",
    "status": "f.status::text = :status",
    "feature_type": "f.feature_type::text = :feature_type",
}
REVIEW_STATUSES = ("confirmed", "dismissed")


@dataclass(frozen=True)
class FlagPage:
    """One page of flags and the total that match."""

    items: list[dict]
    total: int


def list_flags(session: Session, *, filters: dict[str, str], page: int, page_size: int) -> FlagPage:
    """Flags matching the filters (only known filter names reach SQL), newest first."""
    used = {name: value for name, value in filters.items() if value is not None}
    where = " AND ".join(FILTERS[name] for name in used) or "true"
    base = (
        f"FROM flags f JOIN zones z ON z.id = f.zone_id "
        f"JOIN zone_rules r ON r.id = f.rule_id WHERE {where}"
    )
    total = session.execute(text(f"SELECT count(*) {base}"), used).scalar_one()
    rows = (
        session.execute(
            text(
                f"SELECT {FLAG_COLUMNS} {base} ORDER BY f.last_seen DESC, f.id "
                "LIMIT :limit OFFSET :offset"
            ),
            {**used, "limit": page_size, "offset": (page - 1) * page_size},
        )
        .mappings()
        .all()
    )
    return FlagPage(items=[dict(row) for row in rows], total=total)


def flag_summary(session: Session) -> list[dict]:
    """Counts of flags per county and zone kind, split by severity and status."""
    rows = (
        session.execute(
            text("""
        SELECT county_code, zone_kind::text,
               count(*) FILTER (WHERE severity = 'prohibited') AS prohibited,
               count(*) FILTER (WHERE severity = 'restricted') AS restricted,
               count(*) FILTER (WHERE severity = 'notice') AS notice,
               count(*) FILTER (WHERE status IN ('open', 'confirmed')) AS unresolved,
               count(*) AS total
        FROM flags GROUP BY county_code, zone_kind ORDER BY county_code, zone_kind
    """)
        )
        .mappings()
        .all()
    )
    return [dict(row) for row in rows]


def review_flag(
    session: Session,
    *,
    flag_id: int,
    status: str,
    reason: str | None,
    reviewer: str,
    now: datetime,
) -> dict:
    """Confirm or dismiss an open flag (a dismissal needs a reason); the event is recorded."""
    if status not in REVIEW_STATUSES:
        raise ValidationError(
            f"status must be one of {', '.join(REVIEW_STATUSES)}", field="status", value=status
        )
    if status == "dismissed" and not (reason or "").strip():
        raise ValidationError("a dismissal needs a reason", field="reason", value=reason)
    current = session.execute(
        text("SELECT status::text FROM flags WHERE id = :id FOR UPDATE"), {"id": flag_id}
    ).scalar_one_or_none()
    if current is None:
        raise NotFoundError(f"flag {flag_id} does not exist")
    if current == "resolved":
        raise ConflictError(f"flag {flag_id} is resolved: the feature no longer violates")
    session.execute(
        text("""
        UPDATE flags SET status = CAST(:status AS flag_status), status_reason = :reason,
               reviewer = :reviewer, reviewed_at = :now WHERE id = :id
    """),
        {"status": status, "reason": reason, "reviewer": reviewer, "now": now, "id": flag_id},
    )
    session.execute(
        text("""
        INSERT INTO flag_events (flag_id, at, event, detail)
        VALUES (:id, :now, :status, :detail)
    """),
        {
            "id": flag_id,
            "now": now,
            "status": status,
            "detail": f"{reviewer}: {reason}" if reason else reviewer,
        },
    )
    page = (
        session.execute(
            text(
                f"SELECT {FLAG_COLUMNS} FROM flags f JOIN zones z ON "
                "z.id = f.zone_id JOIN zone_rules r ON r.id = f.rule_id "
                "WHERE f.id = :id"
            ),
            {"id": flag_id},
        )
        .mappings()
        .one()
    )
    return dict(page)

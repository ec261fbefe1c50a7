"""Zone rules as data: read them, and change them with every change audited (by a trigger)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, ValidationError

RULE_COLUMNS = """
  code, zone_kind::text, zone_grade, feature_type::text, medium::text, industry_scope,
  industry_codes, requires_discharge, applies_to, severity::text, legal_basis, description, active,
  updated_at
"""
EDITABLE = {
    "active": "active",
    "severity": "severity",
    "legal_basis": "legal_basis",
    "description": "description",
    "industry_scope": "industry_scope",
    "industry_codes": "industry_codes",
    "requires_discharge": "requires_discharge",
    "applies_to": "applies_to",
}
CASTS = {"severity": "CAST(:severity AS severity)"}


def list_rules(session: Session) -> list[dict]:
    """Every rule, active or not."""
    rows = session.execute(text(f"SELECT {RULE_COLUMNS} FROM zone_rules ORDER BY code"))
    return [dict(row) for row in rows.mappings()]


def rule_audit(session: Session, *, code: str) -> list[dict]:
    """The audit trail of one rule, oldest first."""
    rows = (
        session.execute(
            text("""
        SELECT a.action, a.changed_by, a.changed_at, a.before, a.after
        FROM zone_rule_audit a JOIN zone_rules r ON r.id = a.rule_id
        WHERE r.code = :code ORDER BY a.id
    """),
            {"code": code},
        )
        .mappings()
        .all()
    )
    return [dict(row) for row in rows]


def _unknown_industries(session: Session, codes: list[str]) -> list[str]:
    known = set(
        session.execute(
            text("SELECT code FROM industry_codes WHERE code = ANY(:codes)"), {"codes": codes}
        ).scalars()
    )
    return [code for code in codes if code not in known]


def update_rule(session: Session, *, code: str, changes: dict, actor: str) -> dict:
    """Change a rule's editable fields; the audit trigger records `actor`, before and after."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError(
            f"these fields cannot be changed: {', '.join(unknown)}", field=unknown[0]
        )
    if not changes:
        raise ValidationError("nothing to change", field="body")
    missing = _unknown_industries(session, list(changes.get("industry_codes") or []))
    if missing:
        raise ValidationError(
            f"unknown industry code {missing[0]}", field="industry_codes", value=missing[0]
        )
    session.execute(text("SELECT set_config('permitmap.actor', :actor, true)"), {"actor": actor})
    assignments = ", ".join(f"{EDITABLE[k]} = {CASTS.get(k, ':' + k)}" for k in changes)
    try:
        with session.begin_nested():
            row = (
                session.execute(
                    text(
                        f"UPDATE zone_rules SET {assignments} WHERE code = :code "
                        f"RETURNING {RULE_COLUMNS}"
                    ),
                    {**changes, "code": code},
                )
                .mappings()
                .first()
            )
    except IntegrityError as exc:
        raise ConflictError("the change breaks a rule constraint", detail=str(exc.orig)) from exc
    if row is None:
        raise NotFoundError(f"rule {code} does not exist")
    return dict(row)

"""Administrative penalty decisions (行政处罚决定) against units.

A decision has a number (unique), a date (never in the future), the violation, its legal basis,
the fine in yuan (≥ 0) and whether it is public (信息公开: public decisions appear on the unit's
public page; the others only to staff). Edits carry the `version` the editor read: a stale one
is a conflict, so two staff editing the same decision never overwrite each other silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, QueryError, ValidationError

EDITABLE = ("decision_no", "decided_on", "violation", "legal_basis", "amount_yuan", "public")
PUBLIC_COLUMNS = ("decision_no", "decided_on", "violation", "legal_basis", "amount_yuan")
_COLUMNS = (
    "id, decision_no, unit_id, decided_on, violation, legal_basis, amount_yuan, public,"
    " version, created_by, created_at, updated_at"
)


@dataclass(frozen=True)
class PenaltyInput:
    """What a supervisor records of a decision."""

    decision_no: str
    decided_on: date
    violation: str
    legal_basis: str
    amount_yuan: Decimal
    public: bool = False


def _check(values: dict[str, Any], today: date) -> dict[str, Any]:
    """Trimmed values; raise ValidationError on an empty text, a future date, a negative fine."""
    checked = dict(values)
    for name in ("decision_no", "violation", "legal_basis"):
        if name in checked:
            checked[name] = (checked[name] or "").strip()
            if not checked[name] or "\x00" in checked[name]:
                raise ValidationError(f"{name} must not be empty", field=name)
    if "decided_on" in checked and checked["decided_on"] > today:
        raise QueryError(  # a 400: the date is impossible, not merely incomplete
            f"a decision cannot be dated after today ({today})",
            field="decided_on",
            value=str(checked["decided_on"]),
        )
    if "amount_yuan" in checked and Decimal(checked["amount_yuan"]) < 0:
        raise ValidationError("amount_yuan must not be negative", field="amount_yuan")
    return checked


def record_penalty(
    session: Session, *, unit_id: int, penalty: PenaltyInput, today: date, recorded_by: str
) -> dict[str, Any]:
    """Record a decision against a unit; NotFound for an unknown unit, Conflict for a number
    already recorded."""
    values = _check(vars(penalty), today)
    if session.execute(text("SELECT 1 FROM units WHERE id = :u"), {"u": unit_id}).first() is None:
        raise NotFoundError(f"no unit {unit_id}")
    try:
        with session.begin_nested():
            row = session.execute(
                text(
                    "INSERT INTO penalties (decision_no, unit_id, decided_on, violation,"
                    " legal_basis, amount_yuan, public, created_by)"
                    " VALUES (:decision_no, :unit_id, :decided_on, :violation, :legal_basis,"
                    f" :amount_yuan, :public, :by) RETURNING {_COLUMNS}"
                ),
                {**values, "unit_id": unit_id, "by": recorded_by},
            ).mappings()
            return dict(row.one())
    except IntegrityError as error:
        raise _duplicate(values["decision_no"]) from error


def update_penalty(
    session: Session, *, penalty_id: int, version: int, changes: dict[str, Any], today: date
) -> dict[str, Any]:
    """Apply `changes` (a subset of EDITABLE) to a decision read at `version`; Conflict when
    someone changed it since (or the new number is taken), NotFound when it does not exist."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"not editable: {', '.join(sorted(unknown))}")
    if not changes:
        raise ValidationError("nothing to change: send at least one field besides version")
    values = _check(changes, today)
    assignments = "".join(f", {name} = :{name}" for name in values)
    try:
        with session.begin_nested():
            row = session.execute(
                text(
                    f"UPDATE penalties SET version = version + 1{assignments}"
                    f" WHERE id = :id AND version = :version RETURNING {_COLUMNS}"
                ),
                {**values, "id": penalty_id, "version": version},
            ).mappings()
            updated = row.first()
    except IntegrityError as error:
        raise _duplicate(values.get("decision_no", "")) from error
    if updated is None:
        current = session.execute(
            text("SELECT version FROM penalties WHERE id = :id"), {"id": penalty_id}
        ).scalar_one_or_none()
        if current is None:
            raise NotFoundError(f"no penalty decision {penalty_id}")
        raise ConflictError(
            f"penalty decision {penalty_id} was changed by someone else (version {current},"
            f" you sent {version}); reload it and apply your change again"
        )
    return dict(updated)


def list_penalties(
    session: Session,
    *,
    unit_id: int | None = None,
    county: str | None = None,
    public_only: bool = False,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Decisions, newest first, of one unit and/or the units of one county."""
    rows = session.execute(
        text(
            f"SELECT {', '.join('p.' + c.strip() for c in _COLUMNS.split(','))},"
            " u.name AS unit_name, u.credit_code, u.county_code"
            " FROM penalties p JOIN units u ON u.id = p.unit_id"
            " WHERE (CAST(:unit AS bigint) IS NULL OR p.unit_id = :unit)"
            " AND (CAST(:county AS text) IS NULL OR u.county_code = :county)"
            " AND (p.public OR NOT :public_only)"
            " ORDER BY p.decided_on DESC, p.id DESC LIMIT :limit"
        ),
        {"unit": unit_id, "county": county, "public_only": public_only, "limit": limit},
    ).mappings()
    return [dict(row) for row in rows]


def public_penalties(session: Session, *, unit_id: int) -> list[dict[str, Any]]:
    """The unit's public decisions, newest first, with the disclosed columns only."""
    rows = session.execute(
        text(
            "SELECT decision_no, decided_on, violation, legal_basis,"
            " amount_yuan::float8 AS amount_yuan FROM penalties"
            " WHERE unit_id = :unit AND public ORDER BY decided_on DESC, id DESC"
        ),
        {"unit": unit_id},
    ).mappings()
    return [dict(row) for row in rows]


def _duplicate(decision_no: str) -> ConflictError:
    return ConflictError(f"penalty decision {decision_no!r} is recorded already")

"""The permit lifecycle: issue, change (变更), renew (延续), revoke (撤销), cancel (注销) and
withdraw (吊销) as explicit transitions with their rules, each recorded in `permit_history`.

Every transition on an existing permit carries the `version` the caller read (optimistic
locking): a stale version is a 409 and nothing is written; the write itself re-checks the version,
so of two staff saving at once exactly one wins. The permit write and its history row (exact
transition name, reason, actor, decision time) are one statement, see migration 0007.

Rules (条例 = 《排污许可管理条例》):
- issue: the unit exists and is not closed, holds no permit in force; the number follows HJ 608
  and starts with the unit's credit code; issued_on ≤ valid_from < valid_to, at most 5 years
  (Art. 14); no decision dated in the future.
- change: only a permit in force (status valid, not past valid_to).
- renew: a valid or expired permit (never a revoked, cancelled or withdrawn one) of a unit that is
  not closed; the new period starts after the current one ends, at most 5 years.
- revoke: a valid or expired permit. withdraw: a permit in force.
- cancel: a valid or expired permit, on one of three grounds: the unit closed (it must be
  closed), the permit expired (it must be past valid_to), or the holder applied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import ConflictError, NotFoundError, ValidationError
from geo.models import PERMIT_NO_PATTERN
from geo.permit_rules import (
    END_STATUS,
    FROM_STATUSES,
    VALID,
    CancelGround,
    PermitRecord,
    Transition,
    TransitionError,
    check_ground,
    state_problem,
)

VALIDITY_YEARS = 5  # 条例 Art. 14
REPORT_FREQUENCIES = ("annual", "semiannual", "quarterly", "monthly")
HISTORY_ACTOR = (
    "coalesce(nullif(current_setting('permitmap.actor', true), ''), 'db:' || session_user)"
)
_PERMIT_NO = re.compile(PERMIT_NO_PATTERN)
_QUIET_FIELDS = {"updated_at", "created_at", "version"}


@dataclass(frozen=True)
class Terms:
    """The dates a decision sets; None takes the default (today; valid_from = issued_on, or the
    day after the current period for a renewal; five years)."""

    issued_on: date | None = None
    valid_from: date | None = None
    valid_to: date | None = None


@dataclass(frozen=True)
class NewPermit:
    """What an issue decides."""

    permit_no: str
    authority: str
    terms: Terms = field(default_factory=Terms)
    report_frequencies: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class Amendment:
    """What a change or a renewal may also set (None: unchanged)."""

    authority: str | None = None
    report_frequencies: tuple[str, ...] | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a permit's history."""

    id: int
    change: str
    note: str | None
    actor: str | None
    changed_at: datetime
    version: int | None
    changes: dict[str, list[Any]]


_PERMIT_SQL = """
SELECT p.id, p.permit_no, p.unit_id, u.name AS unit_name, u.credit_code, u.county_code,
       u.status::text AS unit_status, p.kind::text AS kind, p.status::text AS status,
       p.issued_on, p.valid_from, p.valid_to, p.authority, p.report_frequencies, p.version,
       p.created_at, p.updated_at
FROM permits p JOIN units u ON u.id = p.unit_id
WHERE p.id = :id
"""


def get_permit(session: Session, *, permit_id: int) -> PermitRecord:
    """The permit, or NotFoundError."""
    row = session.execute(text(_PERMIT_SQL), {"id": permit_id}).mappings().first()
    if row is None:
        raise NotFoundError(f"no permit with id {permit_id}")
    return PermitRecord(**row)


def permit_history(session: Session, *, permit_id: int) -> list[HistoryEntry]:
    """The permit's history, oldest first, each row with the fields it changed."""
    rows = session.execute(
        text(
            "SELECT id, change, note, actor, changed_at, (after ->> 'version')::int AS version,"
            " before, after FROM permit_history WHERE permit_id = :id ORDER BY id"
        ),
        {"id": permit_id},
    ).all()
    return [
        HistoryEntry(
            r.id, r.change, r.note, r.actor, r.changed_at, r.version, _diff(r.before, r.after)
        )
        for r in rows
    ]


def _diff(before: dict | None, after: dict) -> dict[str, list[Any]]:
    if before is None:
        return {}
    keys = (set(before) | set(after)) - _QUIET_FIELDS
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


# ---- issue -------------------------------------------------------------------------------------


def issue_permit(
    session: Session, *, unit_id: int, new: NewPermit, now: datetime, today: date
) -> PermitRecord:
    """Issue a permit (or a registration, for a registration-category unit) to a unit."""
    unit = session.execute(
        text(
            "SELECT id, credit_code, category::text AS category, status::text AS status"
            " FROM units WHERE id = :id FOR NO KEY UPDATE"  # one issue per unit at a time
        ),
        {"id": unit_id},
    ).first()
    if unit is None:
        raise NotFoundError(f"no unit with id {unit_id}")
    if unit.status == "closed":
        raise TransitionError(
            "the unit is closed: a closed unit gets no permit", field="unit_id", value=unit_id
        )
    _check_permit_no(new.permit_no, unit.credit_code)
    held = session.execute(
        text(
            "SELECT permit_no, valid_to FROM permits WHERE unit_id = :u AND status = 'valid'"
            " AND valid_to >= :today LIMIT 1"
        ),
        {"u": unit_id, "today": today},
    ).first()
    if held is not None:
        raise TransitionError(
            f"the unit already holds permit {held.permit_no} in force (to {held.valid_to}):"
            " change or renew it",
            field="unit_id",
            value=unit_id,
        )
    issued_on, valid_from, valid_to = _dates(new.terms, today=today, earliest_start=None)
    params = {
        "no": new.permit_no,
        "unit": unit_id,
        "kind": "registration" if unit.category == "registration" else "permit",
        "freq": list(_frequencies(new.report_frequencies)),
        "issued_on": issued_on,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "authority": new.authority,
        "note": new.note,
        "now": now,
    }
    permit_id = _insert(session, params)
    return get_permit(session, permit_id=permit_id)


def _insert(session: Session, params: dict[str, Any]) -> int:
    if session.execute(text("SELECT 1 FROM permits WHERE permit_no = :no"), params).first():
        raise _duplicate(params["no"])
    statement = text(f"""
        WITH p AS (
          INSERT INTO permits (permit_no, unit_id, kind, report_frequencies, issued_on,
                               valid_from, valid_to, status, authority)
          VALUES (:no, :unit, CAST(:kind AS permit_kind), :freq, :issued_on, :valid_from,
                  :valid_to, 'valid', :authority)
          RETURNING *)
        INSERT INTO permit_history (permit_id, change, note, changed_at, after, actor)
        SELECT p.id, 'issue', :note, :now, to_jsonb(p), {HISTORY_ACTOR} FROM p
        RETURNING permit_id
    """)
    try:
        with session.begin_nested():
            return session.execute(statement, params).scalar_one()
    except IntegrityError as error:  # the same number issued concurrently
        raise _duplicate(params["no"]) from error


def _duplicate(permit_no: str) -> ConflictError:
    return TransitionError(
        f"permit number {permit_no} exists already", field="permit_no", value=permit_no
    )


def _check_permit_no(permit_no: str, credit_code: str) -> None:
    if not _PERMIT_NO.match(permit_no):
        raise ValidationError(
            "a permit number has 22 characters (HJ 608-2017): the unit's 18-character credit"
            " code, a 3-digit sequence and a letter",
            field="permit_no",
            value=permit_no,
        )
    if permit_no[:18] != credit_code:
        raise ValidationError(
            f"a permit number starts with the unit's credit code {credit_code} (HJ 608-2017)",
            field="permit_no",
            value=permit_no,
        )


def _frequencies(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if value not in REPORT_FREQUENCIES:
            raise ValidationError(
                f"a report frequency is one of {', '.join(REPORT_FREQUENCIES)}",
                field="report_frequencies",
                value=value,
            )
    return tuple(dict.fromkeys(values))


def five_years(valid_from: date) -> date:
    """The last day of a five-year period starting on `valid_from`."""
    try:
        end = valid_from.replace(year=valid_from.year + VALIDITY_YEARS)
    except ValueError:  # 29 February
        end = valid_from.replace(year=valid_from.year + VALIDITY_YEARS, day=28) + timedelta(1)
    return end - timedelta(days=1)


def _dates(terms: Terms, *, today: date, earliest_start: date | None) -> tuple[date, date, date]:
    """issued_on, valid_from, valid_to with defaults filled and their order checked."""
    issued_on = terms.issued_on or today
    if issued_on > today:
        raise ValidationError(
            "a decision cannot be dated in the future", field="issued_on", value=issued_on
        )
    valid_from = terms.valid_from or max(issued_on, earliest_start or issued_on)
    if valid_from < issued_on:
        raise ValidationError(
            f"valid_from must not be before issued_on ({issued_on})",
            field="valid_from",
            value=valid_from,
        )
    if earliest_start is not None and valid_from < earliest_start:
        raise ValidationError(
            f"the renewed period starts after the current one ends: on {earliest_start} or later",
            field="valid_from",
            value=valid_from,
        )
    valid_to = terms.valid_to or five_years(valid_from)
    if valid_to <= valid_from:
        raise ValidationError(
            f"valid_to must be after valid_from ({valid_from})", field="valid_to", value=valid_to
        )
    if valid_to > five_years(valid_from):
        raise ValidationError(
            f"a permit is valid for at most {VALIDITY_YEARS} years: valid_to"
            f" {five_years(valid_from)} at the latest",
            field="valid_to",
            value=valid_to,
        )
    return issued_on, valid_from, valid_to


# ---- transitions of an existing permit --------------------------------------------------------


def change_permit(
    session: Session,
    *,
    permit_id: int,
    version: int,
    reason: str,
    amendment: Amendment,
    now: datetime,
    today: date,
) -> PermitRecord:
    """变更: record a change of a permit in force (and its authority or report frequencies)."""
    permit = _current(session, permit_id, version, Transition.CHANGE, today)
    return _write(session, permit, Transition.CHANGE, _amended(amendment), reason, now)


def renew_permit(
    session: Session,
    *,
    permit_id: int,
    version: int,
    terms: Terms,
    amendment: Amendment,
    note: str | None,
    now: datetime,
    today: date,
) -> PermitRecord:
    """延续: a new period after the current one, the permit (and its number) kept."""
    permit = _current(session, permit_id, version, Transition.RENEW, today)
    if permit.unit_status == "closed":
        raise TransitionError(
            "the unit is closed: cancel its permit (注销) rather than renew it",
            field="unit_id",
            value=permit.unit_id,
        )
    earliest = permit.valid_to + timedelta(days=1)
    issued_on, valid_from, valid_to = _dates(terms, today=today, earliest_start=earliest)
    columns = {"status": VALID, "issued_on": issued_on, "valid_from": valid_from}
    columns |= {"valid_to": valid_to} | _amended(amendment)
    return _write(session, permit, Transition.RENEW, columns, note, now)


def end_permit(
    session: Session,
    *,
    permit_id: int,
    version: int,
    transition: Transition,
    reason: str,
    ground: CancelGround | None = None,
    now: datetime,
    today: date,
) -> PermitRecord:
    """撤销 (revoke), 注销 (cancel, on a ground) or 吊销 (withdraw) a permit."""
    if transition not in END_STATUS:
        raise ValueError(f"{transition} does not end a permit")
    permit = _current(session, permit_id, version, transition, today)
    note = reason
    if transition is Transition.CANCEL:
        if ground is None:
            raise ValidationError("a cancellation states its ground", field="ground")
        check_ground(permit, ground, today)
        note = f"{ground.value}: {reason}"
    return _write(session, permit, transition, {"status": END_STATUS[transition]}, note, now)


def _amended(amendment: Amendment) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    if amendment.authority is not None:
        columns["authority"] = amendment.authority
    if amendment.report_frequencies is not None:
        columns["report_frequencies"] = list(_frequencies(amendment.report_frequencies))
    return columns


def _current(
    session: Session, permit_id: int, version: int, transition: Transition, today: date
) -> PermitRecord:
    """The permit at the version the caller read, in a state that allows the transition."""
    permit = get_permit(session, permit_id=permit_id)
    if permit.version != version:
        raise _stale(permit_id, version)
    problem = state_problem(permit, transition, today)
    if problem is not None:
        field_name = "status" if permit.status not in FROM_STATUSES[transition] else "valid_to"
        value = permit.status if field_name == "status" else permit.valid_to
        raise TransitionError(problem, field=field_name, value=value)
    return permit


def _stale(permit_id: int, version: int) -> TransitionError:
    return TransitionError(
        f"permit {permit_id} has changed since version {version} was read: reload it and retry",
        field="version",
        value=version,
    )


_SETTABLE = {
    "status": "CAST(:status AS permit_status)",
    "issued_on": ":issued_on",
    "valid_from": ":valid_from",
    "valid_to": ":valid_to",
    "authority": ":authority",
    "report_frequencies": ":report_frequencies",
}


def _write(
    session: Session,
    permit: PermitRecord,
    transition: Transition,
    columns: dict[str, Any],
    note: str | None,
    now: datetime,
) -> PermitRecord:
    """Update the permit at its version (moving it on) and append the history row, in one
    statement; no row updated means someone else moved the version first."""
    sets = "".join(f"{name} = {_SETTABLE[name]}, " for name in columns)
    statement = text(f"""
        WITH old AS (SELECT to_jsonb(p) - 'updated_at' AS j FROM permits p WHERE p.id = :id),
        upd AS (
          UPDATE permits SET {sets}version = version + 1
          WHERE id = :id AND version = :version
          RETURNING *)
        INSERT INTO permit_history (permit_id, change, note, changed_at, before, after, actor)
        SELECT upd.id, :change, :note, :now, old.j, to_jsonb(upd) - 'updated_at', {HISTORY_ACTOR}
        FROM upd, old
        RETURNING permit_id
    """)
    params = {"id": permit.id, "version": permit.version, "change": transition.value}
    written = session.execute(statement, params | {"note": note, "now": now} | columns).first()
    if written is None:
        raise _stale(permit.id, permit.version)
    return get_permit(session, permit_id=permit.id)

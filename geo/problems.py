"""The problem ledger (问题台账) and deadline rectification (限期整改).

A problem moves open → rectifying → submitted → verified → closed (销号); each step is allowed to
one role (admins may take any), and a supervisor may send a submitted or verified problem back
to rectifying with a reason. Every write names the version it read: a stale one is a conflict,
so two staff editing the same problem never overwrite each other. Deadlines are 3–12 months
after opening (the seeds' 整改期限原则上为三个月至一年); a problem is overdue when its deadline
has passed and it is neither verified nor closed. Every step is an append-only event, and the
tables carry the audit triggers.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from geo.problem_rules import (
    DEPARTMENT_MAX,
    EVIDENCE_STATES,
    FINDING_MAX,
    PROBLEM_TYPE,
    SOURCES,
    TRANSITIONS,
    check_deadline,
    text_field,
)


def _check_opening(
    session: Session,
    *,
    source: str,
    problem_type: str,
    unit_id: int,
    outlet_id: int | None,
    flag_id: int | None,
) -> None:
    if source not in SOURCES:
        raise ValidationError(f"source must be one of {', '.join(SOURCES)}", field="source")
    if not PROBLEM_TYPE.match(problem_type or ""):
        message = "problem_type is 2–40 lower-case letters, digits or '_' (e.g. permit_quality)"
        raise ValidationError(message, field="problem_type", value=problem_type)
    if session.execute(text("SELECT 1 FROM units WHERE id = :u"), {"u": unit_id}).first() is None:
        raise ValidationError(f"unit {unit_id} does not exist", field="unit_id", value=unit_id)
    if outlet_id is not None:
        owner = session.execute(
            text("SELECT unit_id FROM outlets WHERE id = :o"), {"o": outlet_id}
        ).scalar_one_or_none()
        if owner != unit_id:
            message = f"outlet {outlet_id} is not an outlet of unit {unit_id}"
            raise ValidationError(message, field="outlet_id", value=outlet_id)
    if flag_id is not None and source != "screening_flag":
        raise ValidationError("only a screening_flag problem names a flag", field="flag_id")


def open_problem(
    session: Session,
    *,
    source: str,
    problem_type: str,
    unit_id: int,
    finding: str,
    department: str,
    deadline: date | None,
    today: date,
    opened_by: str,
    flag_id: int | None = None,
    outlet_id: int | None = None,
) -> int:
    """Put a problem on the ledger (status open, version 1); returns its id. ValidationError
    naming the field for an unknown source, unit or outlet, an empty finding or department, or a
    deadline outside 3–12 months from `today`; ConflictError when the flag already has one."""
    _check_opening(
        session,
        source=source,
        problem_type=problem_type,
        unit_id=unit_id,
        outlet_id=outlet_id,
        flag_id=flag_id,
    )
    finding = text_field(finding, "finding", FINDING_MAX)
    department = text_field(department, "department", DEPARTMENT_MAX)
    check_deadline(deadline, opened_on=today, problem_type=problem_type)
    values = {
        "source": source,
        "type": problem_type,
        "unit": unit_id,
        "outlet": outlet_id,
        "flag": flag_id,
        "finding": finding,
        "department": department,
        "deadline": deadline,
        "today": today,
        "by": opened_by,
    }
    try:
        with session.begin_nested():
            problem_id = session.execute(
                text("""
            INSERT INTO problems (source, problem_type, unit_id, outlet_id, flag_id, finding,
                                  department, deadline, opened_on, opened_by)
            VALUES (CAST(:source AS problem_source), :type, :unit, :outlet, :flag, :finding,
                    :department, :deadline, :today, :by)
            RETURNING id
        """),
                values,
            ).scalar_one()
    except IntegrityError as exc:
        if "uq_problems_flag" in str(exc.orig):
            raise ConflictError(f"flag {flag_id} already has a problem") from exc
        raise
    _event(session, problem_id, opened_by, "opened", None, "open", 1, None, None)
    return problem_id


def open_from_flag(
    session: Session,
    *,
    flag_id: int,
    department: str,
    deadline: date | None,
    today: date,
    now: datetime,
    opened_by: str,
    problem_type: str = "zone_violation",
    finding: str | None = None,
) -> int:
    """Open the problem of a confirmed screening flag (one per flag): the unit is the flag's
    unit, or the unit of its outlet; the finding defaults to the zone, rule and legal basis."""
    flag = (
        session.execute(
            text("""
        SELECT f.status::text AS status, f.feature_type::text AS feature_type, f.feature_id,
               f.zone_code, z.name AS zone_name, r.description, f.legal_basis
        FROM flags f JOIN zones z ON z.id = f.zone_id JOIN zone_rules r ON r.id = f.rule_id
        WHERE f.id = :id FOR UPDATE OF f
    """),
            {"id": flag_id},
        )
        .mappings()
        .one_or_none()
    )
    if flag is None:
        raise NotFoundError(f"flag {flag_id} does not exist")
    if flag["status"] != "confirmed":
        raise ConflictError(
            f"only a confirmed flag opens a problem (flag {flag_id} is {flag['status']})"
        )
    existing = session.execute(
        text("SELECT id FROM problems WHERE flag_id = :f"), {"f": flag_id}
    ).scalar_one_or_none()
    if existing is not None:
        raise ConflictError(f"flag {flag_id} already has problem {existing}")
    unit_id, outlet_id = _flag_unit(session, flag["feature_type"], flag["feature_id"])
    default = (
        f"{flag['zone_name']}（{flag['zone_code']}）：{flag['description']}。"
        f"依据{flag['legal_basis']}"
    )
    problem_id = open_problem(
        session,
        source="screening_flag",
        problem_type=problem_type,
        unit_id=unit_id,
        finding=finding or default,
        department=department,
        deadline=deadline,
        today=today,
        opened_by=opened_by,
        flag_id=flag_id,
        outlet_id=outlet_id,
    )
    session.execute(
        text(
            "INSERT INTO flag_events (flag_id, at, event, detail) "
            "VALUES (:f, :now, 'problem_opened', :detail)"
        ),
        {"f": flag_id, "now": now, "detail": f"{opened_by}: problem {problem_id}"},
    )
    return problem_id


def _flag_unit(session: Session, feature_type: str, feature_id: int) -> tuple[int, int | None]:
    if feature_type == "unit":
        return feature_id, None
    if feature_type == "outlet":
        unit_id = session.execute(
            text("SELECT unit_id FROM outlets WHERE id = :o"), {"o": feature_id}
        ).scalar_one()
        return unit_id, feature_id
    units = (
        session.execute(
            text("SELECT unit_id FROM outfall_links WHERE outfall_id = :o"), {"o": feature_id}
        )
        .scalars()
        .all()
    )
    if len(units) != 1:
        message = f"the flagged river outfall serves {len(units)} units: open the problem on one"
        raise ValidationError(message, field="flag_id")
    return units[0], None


def _lock(session: Session, problem_id: int, version: int) -> dict:
    """The problem's row, locked; ConflictError when `version` is not the stored one."""
    row = (
        session.execute(
            text("""
        SELECT status::text AS status, version, opened_on, problem_type, deadline, finding,
               department
        FROM problems WHERE id = :id FOR UPDATE
    """),
            {"id": problem_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFoundError(f"problem {problem_id} does not exist")
    if row["version"] != version:
        raise ConflictError(
            f"problem {problem_id} was changed meanwhile (version {row['version']}, you sent "
            f"{version}): reload it and try again"
        )
    return dict(row)


def transition(
    session: Session,
    *,
    problem_id: int,
    to: str,
    version: int,
    note: str | None,
    actor: str,
    role: str,
    now: datetime,
) -> int:
    """Move a problem to `to`; returns its new version. NotFoundError, ConflictError (stale
    version), ValidationError (illegal step: field `to`; missing reason: `note`; no evidence:
    `attachments`), ForbiddenError (the step is another role's)."""
    current = _lock(session, problem_id, version)["status"]
    step = TRANSITIONS.get((current, to))
    if step is None:
        options = [t for (f, t) in TRANSITIONS if f == current]
        then = f"it may go to {', '.join(options)}" if options else "it is closed (销号)"
        raise ValidationError(
            f"a {current} problem cannot go to {to}: {then}", field="to", value=to
        )
    if role != "admin" and role not in step.roles:
        needed = ", ".join(step.roles)
        raise ForbiddenError(f"{current} → {to} is for the role {needed} (you are {role})")
    note = (note or "").strip() or None
    if step.needs_note and note is None:
        raise ValidationError("sending a problem back needs a reason", field="note")
    if step.needs_evidence and not _has_evidence(session, problem_id):
        message = "submitting needs at least one evidence attachment"
        raise ValidationError(message, field="attachments")
    new_version = session.execute(
        text("""
        UPDATE problems SET status = CAST(:to AS problem_status), version = version + 1,
               closed_at = CASE WHEN :to = 'closed' THEN CAST(:now AS timestamptz) END
        WHERE id = :id RETURNING version
    """),
        {"to": to, "now": now, "id": problem_id},
    ).scalar_one()
    _event(session, problem_id, actor, "transition", current, to, new_version, note, now)
    return new_version


def edit_problem(
    session: Session,
    *,
    problem_id: int,
    version: int,
    changes: dict[str, object],
    note: str | None,
    actor: str,
    now: datetime,
) -> int:
    """Change finding, department or deadline of a problem not yet closed; returns the new
    version. A new deadline keeps to 3–12 months after opening and needs a reason (`note`)."""
    unknown = set(changes) - {"finding", "department", "deadline"}
    if unknown or not changes:
        raise ValidationError("change finding, department or deadline", field="body")
    row = _lock(session, problem_id, version)
    if row["status"] == "closed":
        raise ConflictError(f"problem {problem_id} is closed (销号): it can no longer change")
    values = {k: row[k] for k in ("finding", "department", "deadline")}
    for name, limit in (("finding", FINDING_MAX), ("department", DEPARTMENT_MAX)):
        if name in changes:
            values[name] = text_field(changes[name], name, limit)  # type: ignore[arg-type]
    note = (note or "").strip() or None
    if "deadline" in changes and changes["deadline"] != row["deadline"]:
        values["deadline"] = changes["deadline"]
        check_deadline(
            changes["deadline"],  # type: ignore[arg-type]
            opened_on=row["opened_on"],
            problem_type=row["problem_type"],
        )
        if note is None:
            raise ValidationError("changing a deadline needs a reason", field="note")
    changed = [k for k in values if values[k] != row[k]]
    new_version = session.execute(
        text("""
        UPDATE problems SET finding = :finding, department = :department, deadline = :deadline,
               version = version + 1
        WHERE id = :id RETURNING version
    """),
        {**values, "id": problem_id},
    ).scalar_one()
    summary = "; ".join(f"{k}: {row[k]} → {values[k]}" for k in changed if k == "deadline")
    detail = (
        ", ".join(changed) + (f" ({summary})" if summary else "") + (f": {note}" if note else "")
    )
    _event(session, problem_id, actor, "edited", None, None, new_version, detail, now)
    return new_version


def _has_evidence(session: Session, problem_id: int) -> bool:
    return (
        session.execute(
            text("SELECT 1 FROM problem_attachments WHERE problem_id = :p LIMIT 1"),
            {"p": problem_id},
        ).first()
        is not None
    )


def _event(
    session: Session,
    problem_id: int,
    actor: str,
    event: str,
    before: str | None,
    after: str | None,
    version: int,
    note: str | None,
    at: datetime | None,
) -> None:
    session.execute(
        text("""
        INSERT INTO problem_events (problem_id, at, actor, event, from_status, to_status,
                                    version, note)
        VALUES (:p, coalesce(CAST(:at AS timestamptz), now()), :actor, :event,
                CAST(:before AS problem_status), CAST(:after AS problem_status), :version, :note)
    """),
        {
            "p": problem_id,
            "at": at,
            "actor": actor,
            "event": event,
            "before": before,
            "after": after,
            "version": version,
            "note": note,
        },
    )


def check_evidence_allowed(session: Session, *, problem_id: int) -> None:
    """NotFoundError for no such problem, ConflictError once its evidence is locked."""
    status = session.execute(
        text("SELECT status::text FROM problems WHERE id = :id FOR UPDATE"), {"id": problem_id}
    ).scalar_one_or_none()
    if status is None:
        raise NotFoundError(f"problem {problem_id} does not exist")
    if status not in EVIDENCE_STATES:
        raise ConflictError(f"problem {problem_id} is {status}: its evidence can no longer change")


def evidence_added(
    session: Session, *, problem_id: int, attachment_id: int, name: str, actor: str, now: datetime
) -> None:
    """Record an evidence upload in the problem's history (the version does not change)."""
    version = session.execute(
        text("SELECT version FROM problems WHERE id = :id"), {"id": problem_id}
    ).scalar_one()
    note = f"attachment {attachment_id}: {name}"
    _event(session, problem_id, actor, "evidence_added", None, None, version, note, now)

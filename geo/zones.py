"""Zone versions: a re-approved zone closes its current version and adds the next one.

Old versions are never overwritten, so a flag or a report can always say which boundary it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Row, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.db import Refusal, refusal_error
from geo.errors import NotFoundError, ValidationError
from geo.screening import Scope, screen


@dataclass(frozen=True)
class ZoneVersion:
    """One stored version of a zone."""

    id: int
    code: str
    version: int
    valid_from: date
    valid_to: date | None


def _version(row: Row) -> ZoneVersion:
    return ZoneVersion(row.id, row.code, row.version, row.valid_from, row.valid_to)


def new_zone_version(
    session: Session,
    *,
    now: datetime,
    code: str,
    geometry_ewkt: str,
    valid_from: date,
    approval_doc: str | None = None,
    approved_on: date | None = None,
) -> ZoneVersion:
    """Close the current version of zone `code` at `valid_from`, add the next version, and
    re-screen what the zone touches, in the same transaction."""
    current = session.execute(
        text(
            "SELECT id, code, version, valid_from, valid_to FROM zones "
            "WHERE code = :code AND valid_to IS NULL FOR UPDATE"
        ),
        {"code": code},
    ).one_or_none()
    if current is None:
        raise NotFoundError(f"zone {code} has no current version")
    if valid_from <= current.valid_from:
        raise ValidationError(
            f"a new version must start after the current one ({current.valid_from})",
            field="valid_from",
            value=valid_from,
        )
    session.execute(
        text("UPDATE zones SET valid_to = :day WHERE id = :id"),
        {"day": valid_from, "id": current.id},
    )
    row = session.execute(
        text("""
        INSERT INTO zones (kind, grade, code, name, parent_code, geom, source, approval_doc,
                           approved_on, version, valid_from)
        SELECT kind, grade, code, name, parent_code,
               ST_Multi(ST_Transform(ST_GeomFromEWKT(:geom), 4326)), source,
               COALESCE(:doc, approval_doc), :approved_on, version + 1, :valid_from
        FROM zones WHERE id = :id
        RETURNING id, code, version, valid_from, valid_to
    """),
        {
            "geom": geometry_ewkt,
            "doc": approval_doc,
            "approved_on": approved_on,
            "valid_from": valid_from,
            "id": current.id,
        },
    ).one()
    screen(session, now=now, scope=Scope(zone_codes=(code,)))
    return _version(row)


def zone_versions(session: Session, *, code: str) -> list[ZoneVersion]:
    """Every version of a zone, oldest first."""
    rows = session.execute(
        text(
            "SELECT id, code, version, valid_from, valid_to FROM zones WHERE code = :code "
            "ORDER BY version"
        ),
        {"code": code},
    ).all()
    return [_version(row) for row in rows]


def zone_version_at(session: Session, *, code: str, at: date | None = None) -> ZoneVersion | None:
    """The version of zone `code` valid at a date (today when not given)."""
    row = session.execute(
        text(
            "SELECT id, code, version, valid_from, valid_to "
            "FROM zones_at(COALESCE(:at, current_date)) WHERE code = :code"
        ),
        {"code": code, "at": at},
    ).one_or_none()
    return _version(row) if row else None


ZONE_CONSTRAINTS = {
    "grade_matches_kind": Refusal("grade", "this grade does not belong to this kind of zone"),
    "zones_one_version_at_a_time": Refusal(
        "code", "a zone with this code is already in force", True
    ),
    "uq_zones_code_version": Refusal(
        "code", "a zone with this code exists: add a new version instead", True
    ),
}
OTHER_ZONE_REFUSAL = Refusal("geometry", "the zone was refused")


def add_zone(
    session: Session,
    *,
    now: datetime,
    kind: str,
    grade: str | None,
    code: str,
    name: str,
    geometry_ewkt: str,
    valid_from: date,
    source: str,
    approval_doc: str | None = None,
    approved_on: date | None = None,
    parent_code: str | None = None,
) -> ZoneVersion:
    """Add a zone (version 1) and screen what it touches, in the same transaction."""
    try:
        with session.begin_nested():
            row = session.execute(
                text("""
                INSERT INTO zones (kind, grade, code, name, parent_code, geom, source,
                                   approval_doc, approved_on, version, valid_from)
                VALUES (CAST(:kind AS zone_kind), :grade, :code, :name, :parent,
                        ST_Multi(ST_Transform(ST_GeomFromEWKT(:geom), 4326)), :source, :doc,
                        :approved_on, 1, :valid_from)
                RETURNING id, code, version, valid_from, valid_to
            """),
                {
                    "kind": kind,
                    "grade": grade,
                    "code": code,
                    "name": name,
                    "parent": parent_code,
                    "geom": geometry_ewkt,
                    "source": source,
                    "doc": approval_doc,
                    "approved_on": approved_on,
                    "valid_from": valid_from,
                },
            ).one()
    except IntegrityError as exc:
        raise refusal_error(exc, ZONE_CONSTRAINTS, OTHER_ZONE_REFUSAL) from exc
    screen(session, now=now, scope=Scope(zone_codes=(code,)))
    return _version(row)

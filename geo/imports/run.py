"""Running an import: check the whole file, write only when every row is valid, re-screen what
changed and record the run, all inside the caller's transaction (so a failure at any step leaves
the database as it was).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import FixedClock
from geo.errors import ValidationError
from geo.imports.base import Importer, ImportRejectedError, ImportReport, ImportSource, Problem
from geo.imports.outfalls import OutfallImporter
from geo.imports.outlets import OutletImporter
from geo.imports.permits import PermitImporter
from geo.imports.regions import RegionImporter
from geo.imports.rivers import RiverImporter
from geo.imports.units import UnitImporter
from geo.imports.zones import ZoneImporter
from geo.screening import Scope, screen

# Above this many changed features a full screening run is cheaper than a scoped one.
FULL_SCREEN_FROM = 50_000


@dataclass(frozen=True)
class ImportOptions:
    """How to import: report only (`dry_run`), or keep codes whose check digit is wrong."""

    dry_run: bool = False
    allow_bad_check_digit: bool = False


IMPORTERS: dict[str, Callable[[ImportOptions, datetime], Importer]] = {
    "units": lambda options, now: UnitImporter(allow_bad_check_digit=options.allow_bad_check_digit),
    "permits": lambda options, now: PermitImporter(),
    "outlets": lambda options, now: OutletImporter(),
    "outfalls": lambda options, now: OutfallImporter(),
    "zones": lambda options, now: ZoneImporter(clock=FixedClock(now)),
    "regions": lambda options, now: RegionImporter(),
    "rivers": lambda options, now: RiverImporter(),
}
IMPORT_KINDS = tuple(IMPORTERS)


def importer_for(kind: str, options: ImportOptions, now: datetime) -> Importer:
    """The importer of a kind (one of IMPORT_KINDS); `now` dates what it needs dated."""
    if kind not in IMPORTERS:
        known = ", ".join(IMPORTERS)
        raise ValidationError(f"unknown kind of import {kind!r}: one of {known}", field="kind")
    return IMPORTERS[kind](options, now)


def run_import(
    session: Session, kind: str, source: ImportSource, *, options: ImportOptions, now: datetime
) -> ImportReport:
    """Import `source` as `kind`. Raises ImportRejectedError (nothing written) when the file has
    problems; returns the report. A dry run rehearses the write in a savepoint it rolls back,
    so its counts are exactly those the import would have (no re-screening, no record)."""
    importer = importer_for(kind, options, now)
    report = ImportReport(
        kind, source.filename, options.dry_run, max_problems=source.limits.max_problems
    )
    try:
        staged = importer.check(session, source, report)
    except ValidationError as exc:  # the file as a whole is unusable
        report.add(
            Problem(
                exc.message,
                row=exc.row,
                field=None if exc.field in (None, "file") else exc.field,
                value=None if exc.value is None else str(exc.value),
            )
        )
        raise ImportRejectedError(report) from exc
    if not report.ok or staged is None:
        raise ImportRejectedError(report)
    if options.dry_run:
        rehearsal = session.begin_nested()
        try:
            session.execute(text("SET LOCAL permitmap.audit_bulk = 'summary'"))  # rolled back
            importer.write(session, staged, report)
        finally:
            rehearsal.rollback()  # the setting too: it was made inside the savepoint
        return report
    if report.rows > source.limits.bulk_audit_rows:
        # one audit row per table and statement, not per row: a million rows would double it
        session.execute(text("SET LOCAL permitmap.audit_bulk = 'summary'"))
    scope = importer.write(session, staged, report)
    source.progress("written", report.rows, report.rows)
    screening_run = _rescreen(session, scope, now)
    if screening_run is not None:
        report.screening = screening_run[1]
    session.execute(text("SET LOCAL permitmap.audit_bulk = ''"))
    report.run_id = session.execute(
        text(
            "INSERT INTO import_runs (kind, filename, sha256, rows, inserted, updated, unchanged,"
            " actor, screening_run_id, at) VALUES (:kind, :filename, :sha, :rows, :inserted,"
            " :updated, :unchanged, coalesce(nullif(current_setting('permitmap.actor', true),"
            " ''), 'db:' || session_user), :screening, :now) RETURNING id"
        ),
        {
            "kind": kind,
            "filename": source.filename,
            "sha": hashlib.sha256(source.data).hexdigest(),
            "rows": report.rows,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "screening": None if screening_run is None else screening_run[0],
            "now": now,
        },
    ).scalar_one()
    source.progress("done", report.rows, report.rows)
    return report


def _rescreen(session: Session, scope: Scope, now: datetime) -> tuple[int, str] | None:
    """Screen what the import changed (nothing when nothing changed)."""
    if scope.everything:  # an empty scope: nothing changed
        return None
    size = len(scope.unit_ids) + len(scope.outlet_ids) + len(scope.outfall_ids)
    summary = screen(session, now=now, scope=Scope() if size > FULL_SCREEN_FROM else scope)
    return summary.run_id, (
        f"screening run {summary.run_id} ({summary.scope}): {summary.detected} new flags,"
        f" {summary.resolved} resolved"
    )

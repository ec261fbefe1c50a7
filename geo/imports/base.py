"""What every import shares: the source file, the report of problems and counts, and the
protocol each kind of import (units, permits, outlets, outfalls, zones…) implements.

An import runs in two steps inside the caller's transaction: `check` reads and validates the whole
file, appending every problem to the report (row as the user sees it in the file, the column's
header, the value, what is wrong) and staging what it read; `write` upserts the staged rows by
their natural keys and says which features need re-screening. `geo.imports.run` strings them
together: nothing is written unless the whole file is valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from geo.coords import InputCRS
from geo.errors import ValidationError
from geo.screening import Scope
from geo.settings import ImportSettings

ProgressCallback = Callable[[str, int, int | None], None]  # (step, rows done, rows in all)


def no_progress(step: str, done: int, total: int | None) -> None:
    """A progress callback that reports nothing (API requests, tests)."""


@dataclass(frozen=True)
class ImportSource:
    """A file to import: its bytes and name, the CRS of its coordinates, the bounds it must keep
    within, and where to tell progress."""

    data: bytes
    filename: str
    limits: ImportSettings
    crs: InputCRS | None = None  # None: as the file declares (GIS files), else WGS84
    encoding: str | None = None  # a CSV's text encoding; None: detected
    progress: ProgressCallback = no_progress


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (row as shown in the file, column header), the value, and why.

    `row` is None for a problem with the file as a whole or with a column. A corner-point table's
    ring problem names its zone and vertex in the message, at the vertex's row.
    """

    message: str
    row: int | None = None
    field: str | None = None
    value: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form (keys with no value left out)."""
        return {
            key: value
            for key, value in (
                ("row", self.row),
                ("field", self.field),
                ("value", self.value),
                ("message", self.message),
            )
            if value is not None
        }

    def describe(self) -> str:
        """One line for a terminal: `row 12, 统一社会信用代码 = '9144…': wrong check digit`."""
        where = [f"row {self.row}"] if self.row is not None else []
        if self.field is not None:
            where.append(f"{self.field} = {self.value!r}" if self.value is not None else self.field)
        return f"{', '.join(where)}: {self.message}" if where else self.message


@dataclass
class ImportReport:
    """What an import found and did. `problems` keeps the first `max_problems`; `problem_count`
    counts them all."""

    kind: str
    filename: str
    dry_run: bool
    max_problems: int = 1000
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    notes: list[str] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    run_id: int | None = None
    screening: str | None = None

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        """Record a problem."""
        self.problem_count += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)

    def add_many(self, problems: list[Problem]) -> None:
        """Record several problems."""
        for problem in problems:
            self.add(problem)

    def note(self, text: str) -> None:
        """Record a remark that is not a problem (encoding detected, columns ignored…)."""
        self.notes.append(text)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the API and `--json`."""
        return {
            "kind": self.kind,
            "filename": self.filename,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "problem_count": self.problem_count,
            "problems": [p.as_dict() for p in self.problems],
            "notes": self.notes,
            "run_id": self.run_id,
            "screening": self.screening,
        }


class ImportRejectedError(ValidationError):
    """The file has problems; nothing was written. Carries the whole report."""

    def __init__(self, report: ImportReport) -> None:
        first = report.problems[0].describe() if report.problems else ""
        more = report.problem_count - 1
        suffix = f" (and {more:,} more problem{'s' if more != 1 else ''})" if more > 0 else ""
        super().__init__(f"{report.filename}: nothing imported — {first}{suffix}", field="file")
        self.report = report


class Importer(Protocol):
    """One kind of import."""

    kind: str

    def check(self, session: Session, source: ImportSource, report: ImportReport) -> object:
        """Read and validate the file; append problems to `report`, set `report.rows`; return
        what `write` needs. May raise ValidationError for a file that cannot be read at all."""
        ...

    def write(self, session: Session, staged: object, report: ImportReport) -> Scope:
        """Upsert what `check` staged (only called when the report has no problems); set the
        counts; return the features and zones to re-screen (an empty Scope: none)."""
        ...

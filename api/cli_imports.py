"""`permitmap import KIND FILE`: a file of units, permits, outlets, river outfalls, zones or
regions, checked row by row and written all-or-nothing."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from api.cli_support import check_input_file, cli_settings, cli_transaction
from geo.coords import parse_crs
from geo.errors import ValidationError
from geo.imports.base import ImportRejectedError, ImportReport, ImportSource
from geo.imports.run import IMPORT_KINDS, ImportOptions, run_import

STEPS = {
    "read": "file read",
    "checked": "rows checked",
    "staged": "checked against the database",
    "written": "written",
    "done": "re-screened and recorded",
}


def import_command(
    kind: Annotated[
        str, typer.Argument(help="units, permits, outlets, outfalls, zones, regions, rivers")
    ],
    file: Annotated[
        Path, typer.Argument(help=".xlsx/.csv; GIS files for zones, regions and rivers")
    ],
    crs: Annotated[
        str | None,
        typer.Option(help="coordinates of the file: wgs84 | cgcs2000 | gcj02 | bd09"),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="a CSV's text encoding (utf-8, gbk…); detected when not given"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and report; write nothing")
    ] = False,
    allow_bad_check_digit: Annotated[
        bool,
        typer.Option(
            "--allow-bad-check-digit",
            help="keep credit codes whose check digit is wrong (early pilot-area codes)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Import a file: every row is checked first; any problem writes nothing and exits 1."""
    if kind not in IMPORT_KINDS:
        raise ValidationError(f"unknown kind {kind!r}: one of {', '.join(IMPORT_KINDS)}")
    settings = cli_settings()
    check_input_file(file, settings)
    options = ImportOptions(dry_run=dry_run, allow_bad_check_digit=allow_bad_check_digit)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task(f"importing {file.name}", total=len(STEPS))

        def progress(step: str, done: int, total: int | None) -> None:
            bar.update(task, advance=1, description=f"{file.name}: {done:,} rows {STEPS[step]}")

        source = ImportSource(
            data=file.read_bytes(),
            filename=file.name,
            limits=settings.imports,
            crs=parse_crs(crs) if crs else None,
            encoding=encoding,
            progress=progress,
        )
        try:
            with cli_transaction(settings) as session:
                report = run_import(session, kind, source, options=options, now=datetime.now(UTC))
        except ImportRejectedError as rejected:
            _print_report(rejected.report, as_json, stream=sys.stderr)
            raise typer.Exit(1) from None
    _print_report(report, as_json, stream=sys.stdout)


def _print_report(report: ImportReport, as_json: bool, *, stream: object) -> None:
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2), file=stream)
        return
    for note in report.notes:
        print(f"note: {note}", file=stream)
    for problem in report.problems:
        print(problem.describe(), file=stream)
    if not report.ok:
        hidden = report.problem_count - len(report.problems)
        more = f" ({hidden:,} not shown)" if hidden else ""
        print(
            f"{report.filename}: {report.problem_count:,} problem"
            f"{'' if report.problem_count == 1 else 's'}{more} in {report.rows:,} rows;"
            " nothing imported",
            file=stream,
        )
        return
    verb = "would insert" if report.dry_run else "inserted"
    changed = "would update" if report.dry_run else "updated"
    unchanged = "" if report.dry_run else f", {report.unchanged:,} unchanged"
    print(
        f"{report.filename}: {report.rows:,} rows valid; {verb} {report.inserted:,},"
        f" {changed} {report.updated:,}{unchanged}"
        + ("" if report.dry_run else f" (import run {report.run_id})"),
        file=stream,
    )
    if report.screening:
        print(report.screening, file=stream)

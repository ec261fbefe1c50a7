"""The `permitmap` command: the embedded database, migrations, the demo province, the server."""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cli_imports import import_command
from api.cli_monitor import monitor_app
from api.cli_support import cli_actor, cli_settings, cli_transaction
from geo.clock import SystemClock
from geo.cluster import EmbeddedCluster
from geo.db import database_url, make_engine, probe
from geo.errors import PermitmapError, SetupError, ValidationError
from geo.geofiles import read_geometry
from geo.migrate import current_revision, downgrade, require_migrated, upgrade
from geo.reminders import (
    BUCKETS,
    ReminderList,
    check_county,
    export_header,
    export_rows,
    monthly_reminders,
    parse_month,
)
from geo.reports import check_reports
from geo.screening import DEFAULT_NEAR_BOUNDARY_M, screen
from geo.settings import Settings
from geo.siting import SitingRequest, SitingResult, check_siting
from geo.users import create_user
from layers.export import csv_chunks, xlsx_chunks
from layers.tiles import refresh_clusters

app = typer.Typer(
    help="permitmap: GIS monitoring map server for the pollutant discharge permit system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(
    help="The database: embedded PostGIS cluster or DATABASE_URL.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
layers_app = typer.Typer(help="Map layers: vector tile clusters.", no_args_is_help=True)
app.add_typer(layers_app, name="layers")
user_app = typer.Typer(help="Staff users (argon2 passwords; roles).", no_args_is_help=True)
app.add_typer(user_app, name="user")
reports_app = typer.Typer(help="Execution reports (执行报告).", no_args_is_help=True)
app.add_typer(reports_app, name="reports")
app.command("import")(import_command)
app.add_typer(monitor_app, name="monitor")

MAX_DEMO_UNITS = 1_000_000
MAX_NEAR_BOUNDARY_M = 5_000.0


@db_app.command("start")
def db_start() -> None:
    """Install PostgreSQL + PostGIS if needed and start the embedded cluster (idempotent)."""
    settings = cli_settings()
    if settings.database.database_url:
        versions = probe(make_engine(settings.database.database_url))
        typer.echo(f"using DATABASE_URL (PostgreSQL {versions.postgres}); no embedded cluster")
        return
    cluster = EmbeddedCluster(settings.cluster)
    status = cluster.start()
    cluster.ensure_database(settings.database.database_name)
    typer.echo(f"embedded PostGIS running (pid {status.pid}, data {status.data_dir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    settings = cli_settings()
    if settings.database.database_url:
        typer.echo("using DATABASE_URL; there is no embedded cluster to stop")
        return
    stopped = EmbeddedCluster(settings.cluster).stop()
    typer.echo("embedded PostGIS stopped" if stopped else "embedded PostGIS was not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the database runs, its versions and its migration revision."""
    settings = cli_settings()
    if not settings.database.database_url:
        status = EmbeddedCluster(settings.cluster).status()
        if not status.running:
            typer.echo(f"embedded PostGIS: stopped (data {status.data_dir})")
            raise typer.Exit(3)
        typer.echo(f"embedded PostGIS: running (pid {status.pid}, data {status.data_dir})")
    engine = make_engine(database_url(settings.database, settings.cluster))
    versions = probe(engine)
    revision = current_revision(engine) or "none (run `permitmap db migrate`)"
    typer.echo(f"PostgreSQL {versions.postgres}, PostGIS {versions.postgis or 'not installed'}")
    typer.echo(f"migration revision: {revision}")


@db_app.command("url")
def db_url() -> None:
    """Print the SQLAlchemy URL of the database permitmap uses."""
    settings = cli_settings()
    typer.echo(database_url(settings.database, settings.cluster))


@db_app.command("migrate")
def db_migrate(revision: str = "head") -> None:
    """Apply the migrations up to REVISION (default: head)."""
    settings = cli_settings()
    engine = make_engine(database_url(settings.database, settings.cluster))
    upgrade(engine, revision)
    typer.echo(f"database at revision {current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Roll the migrations back to REVISION ("base" removes every table)."""
    settings = cli_settings()
    engine = make_engine(database_url(settings.database, settings.cluster))
    downgrade(engine, revision)
    typer.echo(f"database at revision {current_revision(engine) or 'base'}")


@app.command("demo")
def demo(
    units: Annotated[int, typer.Option(help="number of units (排污单位), 1 to 1,000,000")] = 20_000,
    seed: Annotated[
        int, typer.Option(help="random seed: the same seed gives the same data")
    ] = 2025,
    province: Annotated[str, typer.Option(help="province adcode (GB/T 2260)")] = "500000",
    as_of: Annotated[
        str | None, typer.Option(help="reference date YYYY-MM-DD (default today)")
    ] = None,
    if_empty: Annotated[bool, typer.Option(help="do nothing when the database holds data")] = False,
    replace: Annotated[bool, typer.Option(help="wipe the inventory and zones, then load")] = False,
) -> None:
    """Generate the demo province and load it with COPY."""
    from data.demo.loader import database_is_empty, load_demo
    from data.demo.options import DemoOptions

    if not 1 <= units <= MAX_DEMO_UNITS:
        raise ValidationError(f"--units must be between 1 and {MAX_DEMO_UNITS:,}, got {units}")
    options = DemoOptions(units=units, seed=seed, province=province, as_of=_parse_date(as_of))
    settings = cli_settings()
    engine = make_engine(database_url(settings.database, settings.cluster))
    require_migrated(engine)
    if not database_is_empty(engine):
        if if_empty:
            typer.echo("database already holds data; demo not loaded again")
            return
        if not replace:
            raise SetupError("the database already holds data: add --replace to wipe and reload it")
    summary = load_demo(engine, options, progress=True)
    typer.echo(summary)


@app.command("screen")
def screen_command(
    near_boundary_m: Annotated[
        float, typer.Option(help="geodesic metres within which a boundary needs a field check")
    ] = DEFAULT_NEAR_BOUNDARY_M,
) -> None:
    """Screen every unit, outlet and river outfall against every current zone; update flags."""
    if not 0 <= near_boundary_m <= MAX_NEAR_BOUNDARY_M:
        raise ValidationError(
            f"--near-boundary-m must be between 0 and {MAX_NEAR_BOUNDARY_M:g}, "
            f"got {near_boundary_m:g}"
        )
    with cli_transaction(cli_settings()) as session:
        summary = screen(session, now=datetime.now(UTC), near_boundary_m=near_boundary_m)
    severities = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_severity.items()))
    typer.echo(
        f"screening run {summary.run_id}: {summary.detected} new flags, {summary.still_open} "
        f"still open, {summary.reopened} reopened, {summary.resolved} resolved "
        f"(current matches: {severities or 'none'})"
    )


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="inspector | reviewer | supervisor | admin")],
    display_name: Annotated[str, typer.Option(help="shown in the pages and the audit log")] = "",
    county: Annotated[str | None, typer.Option(help="county code the user works in")] = None,
    password_env: Annotated[
        str | None,
        typer.Option(help="read the password from this environment variable (else a prompt)"),
    ] = None,
    if_missing: Annotated[bool, typer.Option(help="do nothing if the user exists")] = False,
) -> None:
    """Add a staff user, e.g. the first admin: `permitmap user add alice --role admin`."""
    with cli_transaction(cli_settings()) as session:
        exists = session.execute(
            text("SELECT 1 FROM users WHERE username = :u"), {"u": username}
        ).first()
        if exists and if_missing:
            typer.echo(f"user {username} exists already")
            return
        password = (
            os.environ.get(password_env, "")
            if password_env
            else typer.prompt("password", hide_input=True, confirmation_prompt=True)
        )
        create_user(
            session,
            username=username,
            display_name=display_name,
            role=role,
            password=password,
            county_code=county,
        )
    typer.echo(f"user {username} added ({role})")


DEMO_USERS = (  # username, role, display name
    ("demo-admin", "admin", "演示管理员"),
    ("demo-supervisor", "supervisor", "演示科长"),
    ("demo-reviewer", "reviewer", "演示审核员"),
    ("demo-inspector", "inspector", "演示执法员"),
)


@user_app.command("demo")
def user_demo() -> None:
    """Add one demo user per role (development only; password from PERMITMAP_DEMO_PASSWORD,
    default permitmap-demo), keeping those that exist."""
    settings = cli_settings()
    if settings.auth.environment == "production":
        raise ValidationError("demo users are refused in production")
    password = os.environ.get("PERMITMAP_DEMO_PASSWORD", "permitmap-demo")
    with cli_transaction(settings) as session:
        known = set(session.execute(text("SELECT username FROM users")).scalars())
        for username, role, display_name in DEMO_USERS:
            if username not in known:
                create_user(
                    session,
                    username=username,
                    display_name=display_name,
                    role=role,
                    password=password,
                )
    typer.echo(
        "demo users: "
        + ", ".join(u for u, _, _ in DEMO_USERS)
        + " (password: $PERMITMAP_DEMO_PASSWORD or permitmap-demo)"
    )


@layers_app.command("refresh")
def layers_refresh() -> None:
    """Rebuild the stored clusters of dense point layers that are out of date (after a load)."""
    settings = cli_settings()
    started = time.perf_counter()
    with cli_transaction(settings) as session:
        keys = refresh_clusters(session, settings.layers.tile_cluster_grid)
    elapsed = time.perf_counter() - started
    typer.echo(f"clusters up to date for {len(keys)} grids in {elapsed:.1f} s")


@reports_app.command("check")
def reports_check(
    county: Annotated[str | None, typer.Option(help="only this county (6-digit code)")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="check as of YYYY-MM-DD (default: today in China)")
    ] = None,
) -> None:
    """Add last year's and this year's expected reports, then open a problem for each report
    past due, missing or late, that has none yet (idempotent)."""
    today = _parse_date(as_of) if as_of else SystemClock().today()
    with cli_transaction(cli_settings()) as session:
        result = check_reports(session, today=today, checked_by=cli_actor(), county=county)
    typer.echo(
        f"execution reports as of {today}: {result.generated} expected reports added,"
        f" {result.opened} problems opened"
    )


@app.command("siting")
def siting_command(
    file: Annotated[Path, typer.Argument(help="GeoJSON, KML, zipped Shapefile or GeoPackage")],
    industry: Annotated[str, typer.Option(help="GB/T 4754-2017 industry code, e.g. 3360")],
    media: Annotated[str, typer.Option(help="media discharged: water, air, water,air")] = "",
    project: Annotated[str, typer.Option(help="new or expansion")] = "new",
    crs: Annotated[str, typer.Option(help="wgs84, cgcs2000, gcj02 or bd09")] = "wgs84",
    as_json: Annotated[bool, typer.Option("--json", help="print the whole answer as JSON")] = False,
) -> None:
    """Check a proposed site against the zoning: verdict, rules, zones, nearest sources."""
    settings = cli_settings()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {file}: {exc.strerror}", field="FILE") from exc
    geometry = read_geometry(data, file.name, max_bytes=settings.siting.max_upload_bytes)
    engine = make_engine(database_url(settings.database, settings.cluster))
    require_migrated(engine)
    request = SitingRequest(geometry, crs, industry, media, project, source_field="file")
    with Session(engine) as session:
        result = check_siting(session, request, max_area_km2=settings.siting.max_area_km2)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(_siting_report(result))


def _siting_report(result: SitingResult) -> str:
    """The siting answer as a few readable lines."""
    lines = [
        f"verdict: {result.verdict} ({result.industry_code} {result.industry_name}, "
        f"{result.project})"
    ]
    lines += [
        f"  {r.severity}: {r.code} {r.description} ({r.legal_basis}; {', '.join(r.zone_codes)})"
        for r in result.rules
    ]
    lines += [f"  in {z.kind} {z.code} {z.name}: share {z.share:.0%}" for z in result.zones]
    lines += [
        f"  nearest protection zone {z.code} {z.name}: {z.distance_m:,.0f} m"
        for z in result.nearest_protection_zones[:3]
    ]
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)


@app.command("reminders")
def reminders_command(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month)")] = None,
    county: Annotated[str | None, typer.Option(help="6-digit county code")] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="text (counts per county), json, csv or xlsx")
    ] = "text",
    output: Annotated[Path | None, typer.Option(help="write to this file (xlsx needs one)")] = None,
    lang: Annotated[str, typer.Option(help="export column titles: zh or en")] = "zh",
) -> None:
    """Monthly permit reminders per county: expired, expiring within 30/60/90 days, and closed
    units' permits to cancel, e.g. `permitmap reminders --month 2026-12 --format xlsx --output
    reminders.xlsx`."""
    if output_format not in ("text", "json", "csv", "xlsx"):
        raise ValidationError(f"--format is text, json, csv or xlsx, not {output_format!r}")
    if lang not in ("zh", "en"):
        raise ValidationError(f"--lang is zh or en, not {lang!r}")
    if output_format == "xlsx" and output is None:
        raise ValidationError("--format xlsx needs --output FILE")
    first = parse_month(month, field_name="--month") if month else SystemClock().today()
    county = check_county(county, field_name="--county")
    settings = cli_settings()
    engine = make_engine(database_url(settings.database, settings.cluster))
    require_migrated(engine)
    with Session(engine) as session:
        found = monthly_reminders(session, month=first.replace(day=1), county=county)
    data = _reminders_bytes(found, output_format, lang)
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise ValidationError(f"cannot write {output}: {exc.strerror}", field="--output") from exc
    typer.echo(f"{sum(found.totals.values()):,} reminders for {found.month} written to {output}")


def _reminders_bytes(found: ReminderList, output_format: str, lang: str) -> bytes:
    if output_format == "json":
        return found.to_json(indent=2) + b"\n"
    if output_format in ("csv", "xlsx"):
        header, rows = export_header(lang), export_rows(found, lang)
        title = f"排污许可到期提醒 {found.month}"
        chunks = (
            csv_chunks(header, [rows])
            if output_format == "csv"
            else xlsx_chunks(title, header, [rows])
        )
        return b"".join(chunks)
    lines = [f"permit reminders for {found.month} (as of {found.as_of})"]
    lines.append(f"{'county':<24}" + "".join(f"{b:>13}" for b in BUCKETS))
    for entry in found.counties:
        label = f"{entry.county_code} {entry.county_name or ''}"
        lines.append(f"{label:<24}" + "".join(f"{entry.counts[b]:>13,}" for b in BUCKETS))
    lines.append(f"{'total':<24}" + "".join(f"{found.totals[b]:>13,}" for b in BUCKETS))
    return ("\n".join(lines) + "\n").encode()


def _parse_date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError(f"--as-of must be a date like 2026-01-31, got {value!r}") from exc


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port")] = None,
) -> None:
    """Serve the API and maps (default http://127.0.0.1:8000)."""
    import uvicorn

    from api.app import create_app

    settings = cli_settings()
    host = host or settings.server.host
    port = port or settings.server.port
    _require_free_port(host, port)
    typer.echo(f"permitmap serving on http://{host}:{port} (API docs at /docs)")
    app = create_app(settings)
    # Everything loaded so far lives as long as the process: keep it out of the cyclic garbage
    # collector, whose full passes over it stalled every request in flight for ~100 ms.
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="info")


def _require_free_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe_socket:
        # as uvicorn does: connections in TIME_WAIT from a previous run do not hold the port
        probe_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe_socket.bind((host, port))
        except OSError as exc:
            raise SetupError(
                f"port {port} on {host} is already in use: stop the other process "
                "or choose another with --port / PERMITMAP_PORT"
            ) from exc


def _log_unexpected(exc: BaseException) -> Path:
    log_path = Settings().cluster.state_dir / "permitmap-cli.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(filename=log_path, level=logging.ERROR)
    logging.getLogger("permitmap.cli").error("unexpected error", exc_info=exc)
    return log_path


def main() -> None:
    """Entry point: every failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        exit_code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"permitmap: {message}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        print("permitmap: aborted", file=sys.stderr)
        sys.exit(130)
    except PermitmapError as exc:
        print(f"permitmap: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        log_path = _log_unexpected(exc)
        print(
            f"permitmap: unexpected error ({type(exc).__name__}); see {log_path}", file=sys.stderr
        )
        sys.exit(1)
    if isinstance(exit_code, int) and exit_code:
        sys.exit(exit_code)

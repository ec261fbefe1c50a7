"""`permitmap monitor …`: online monitoring (HJ 212-2017): the receiver, device registration,
readings imported from a file, and the device simulator."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from api.cli_support import check_input_file, cli_settings, cli_transaction
from api.monitor_receiver import Receiver
from api.monitor_simulator import SimulationOptions, simulate
from geo.clock import CHINA, SystemClock
from geo.db import database_url, make_engine
from geo.errors import SetupError, ValidationError
from geo.imports.base import ImportRejectedError, ImportReport, ImportSource
from geo.migrate import require_migrated
from geo.monitoring.devices import register_device
from geo.monitoring.import_readings import import_readings
from geo.monitoring.simulated import SimulatedDevice, register_simulated, simulated_devices
from geo.monitoring.writer import BatchWriter
from geo.settings import Settings

monitor_app = typer.Typer(
    help="Online monitoring (HJ 212-2017): receiver, devices, readings.", no_args_is_help=True
)
device_app = typer.Typer(help="Monitoring devices (数采仪) by MN.", no_args_is_help=True)
monitor_app.add_typer(device_app, name="device")

DEFAULT_SIM_PASSWORD = "simulator"  # simulated devices only (never a real device's)
# Every packet makes a few hundred short-lived objects: collect the young generation every
# 100,000 allocations instead of 700 (+8 % packets/s under load, bench/README.md)
GC_THRESHOLDS = (100_000, 50, 100)


@monitor_app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="listen address")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default 9212)")] = None,
) -> None:
    """Receive HJ 212-2017 packets from devices until SIGINT/SIGTERM (default 127.0.0.1:9212)."""
    settings = cli_settings()
    updates = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    monitor = settings.monitor.model_copy(update=updates)
    engine = make_engine(database_url(settings.database, settings.cluster), pool_size=2)
    require_migrated(engine)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("permitmap.monitor")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    receiver = Receiver(monitor, BatchWriter(engine, clock=SystemClock()), clock=SystemClock())
    try:
        asyncio.run(_serve(receiver))
    finally:
        engine.dispose()


async def _serve(receiver: Receiver) -> None:
    try:
        await receiver.start()
    except OSError as exc:
        settings = receiver.settings
        raise SetupError(
            f"the receiver cannot listen on {settings.host}:{settings.port}"
            f" ({os.strerror(exc.errno) if exc.errno else exc}):"
            " stop the other process or choose another with --port / PERMITMAP_MONITOR_PORT"
        ) from exc
    typer.echo(f"HJ 212 receiver listening on {receiver.settings.host}:{receiver.port}")
    gc.freeze()  # the registry and the code live as long as the process: keep them out of GC
    gc.set_threshold(*GC_THRESHOLDS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await receiver.stop()


@device_app.command("add")
def device_add(
    mn: Annotated[str, typer.Argument(help="the device's MN (1–24 letters and digits)")],
    outlet_id: Annotated[int, typer.Option(help="permitmap's id of the outlet it monitors")],
    password_env: Annotated[
        str | None,
        typer.Option(help="read the password (PW) from this environment variable (else a prompt)"),
    ] = None,
    interval_s: Annotated[int, typer.Option(help="seconds between its minute packets")] = 60,
    offline_intervals: Annotated[
        int, typer.Option(help="missed intervals after which it is offline")
    ] = 5,
) -> None:
    """Register a device on an outlet (or move it and set a new password)."""
    if interval_s < 1 or offline_intervals < 1:
        raise ValidationError("--interval-s and --offline-intervals must be at least 1")
    password = (
        os.environ.get(password_env, "")
        if password_env
        else typer.prompt("device password (PW)", hide_input=True, confirmation_prompt=True)
    )
    with cli_transaction(cli_settings()) as session:
        device = register_device(
            session,
            mn=mn,
            outlet_id=outlet_id,
            password=password,
            interval_s=interval_s,
            offline_intervals=offline_intervals,
        )
    typer.echo(f"device {device.mn} registered on outlet {device.outlet_id}")


@monitor_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help=".xlsx or .csv of readings")],
    encoding: Annotated[
        str | None, typer.Option(help="a CSV's text encoding (utf-8, gbk…); detected if not given")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and report only")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Import readings (MN or 排放口ID, 污染物代码, 数据时间, 数值, 数据类型, 标记…): every row is
    checked first; any problem imports nothing and exits 1; then the checks run."""
    settings = cli_settings()
    check_input_file(file, settings)
    source = ImportSource(
        data=file.read_bytes(), filename=file.name, limits=settings.imports, encoding=encoding
    )
    try:
        with cli_transaction(settings) as session:
            report = import_readings(
                session,
                source,
                now=datetime.now(UTC),
                retention_months=settings.monitor.retention_months,
                dry_run=dry_run,
            )
    except ImportRejectedError as rejected:
        _print_report(rejected.report, as_json, ok=False)
        raise typer.Exit(1) from None
    _print_report(report, as_json, ok=True)


def _print_report(report: ImportReport, as_json: bool, *, ok: bool) -> None:
    stream = sys.stdout if ok else sys.stderr
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2), file=stream)
        return
    for line in [*(f"note: {n}" for n in report.notes), *(p.describe() for p in report.problems)]:
        print(line, file=stream)
    if not ok:
        hidden = report.problem_count - len(report.problems)
        print(
            f"{report.filename}: {report.problem_count:,} problems"
            f"{f' ({hidden:,} not shown)' if hidden else ''} in {report.rows:,} rows;"
            " nothing imported",
            file=stream,
        )
        return
    verb = "would store" if report.dry_run else "stored"
    print(
        f"{report.filename}: {report.rows:,} rows valid; {verb} {report.inserted:,} readings,"
        f" {report.unchanged:,} stored before",
        file=stream,
    )
    if report.screening:
        print(report.screening, file=stream)


@monitor_app.command("simulate")
def simulate_command(
    devices: Annotated[int, typer.Option(help="number of simulated devices")] = 100,
    duration: Annotated[float, typer.Option(help="seconds of sending")] = 60.0,
    host: Annotated[str | None, typer.Option(help="the receiver's address")] = None,
    port: Annotated[int | None, typer.Option(help="the receiver's port")] = None,
    rate: Annotated[
        float, typer.Option(help="packets/s per device; 0: as fast as the receiver answers")
    ] = 0.0,
    register: Annotated[
        bool, typer.Option("--register", help="register the devices on the first outlets first")
    ] = False,
    password_env: Annotated[
        str | None, typer.Option(help="the devices' password from this variable")
    ] = None,
    exceed_every: Annotated[
        int, typer.Option(help="every K-th device sends one exceedance (0: none)")
    ] = 0,
    report_file: Annotated[
        Path | None, typer.Option("--report", help="write the detailed report (JSON) here")
    ] = None,
) -> None:
    """Drive simulated devices (MN SIM…) against a receiver: minute data with 8 factors, Flag
    asking for acknowledgements; prints sent/acked/lost and, last, a JSON line."""
    if devices < 1 or duration <= 0 or rate < 0 or exceed_every < 0:
        raise ValidationError("--devices ≥ 1, --duration > 0, --rate ≥ 0, --exceed-every ≥ 0")
    settings = cli_settings()
    password = os.environ.get(password_env, "") if password_env else DEFAULT_SIM_PASSWORD
    fleet = _fleet(settings, devices, password, register=register)
    if len(fleet) < devices:
        raise SetupError(
            f"only {len(fleet)} simulated devices are registered: add --register"
            " (and enough outlets: `permitmap demo`)"
        )
    now = datetime.now(CHINA).replace(second=0, microsecond=0)
    exceeding = fleet[exceed_every - 1 :: exceed_every] if exceed_every else []
    options = SimulationOptions(
        password=password,
        start=now,
        host=host or settings.monitor.host,
        port=port or settings.monitor.port,
        duration_s=duration,
        rate=rate,
        exceed=frozenset(device.mn for device in exceeding),
    )
    report = asyncio.run(simulate(fleet, options))
    summary = report.as_dict()
    typer.echo(
        f"{summary['connected']:,} of {devices:,} devices connected; {summary['sent']:,} packets"
        f" sent, {summary['acked']:,} acknowledged ({summary['acked_per_s']:,} /s),"
        f" {summary['resent']:,} re-sent, {summary['rejected']:,} refused,"
        f" {summary['lost']:,} lost; ack p50 {summary['ack_p50_ms']} ms,"
        f" p99 {summary['ack_p99_ms']} ms"
    )
    if report_file is not None:
        details = report.as_dict(details=True) | {"start": now.isoformat()}
        report_file.write_text(json.dumps(details))
    typer.echo(json.dumps(summary))


def _fleet(
    settings: Settings, count: int, password: str, *, register: bool
) -> list[SimulatedDevice]:
    """The simulated devices, registered first when asked."""
    if register:
        with cli_transaction(settings) as session:
            register_simulated(session, count=count, password=password)
    engine = make_engine(database_url(settings.database, settings.cluster), pool_size=1)
    require_migrated(engine)
    try:
        with Session(engine) as session:
            return simulated_devices(session, count=count)
    finally:
        engine.dispose()

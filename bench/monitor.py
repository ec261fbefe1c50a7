"""Benchmark: the HJ 212-2017 receiver under 10,000 simulated devices, beside a bare receiver.

`python -m bench.monitor --devices 10000 --duration 60` (what `make bench-monitor` runs). One
scratch database, `permitmap_bench_monitor`, on the app's server (DATABASE_URL, else the embedded
cluster), holds the demo province (`--units`, default 10,000: ~12,000 outlets) and `--devices`
simulated devices registered on its first outlets. Then, in the same run, two phases, each on an
emptied `readings` table:

1. **receiver**: `permitmap monitor serve` (a process: every check on, default batching) and
   `permitmap monitor simulate` (another process): every device on its own connection sends
   minute data (CN 2051, 8 factors, Flag=5) and waits for each acknowledgement, for
   `--duration` s; every `--exceed-every`-th device sends, once, at a random moment, an hourly
   packet over the limits;
2. **bare**: `python -m bench.monitor_bare` (frame + parse + COPY, nothing else) and the same
   simulator.

Figures: acknowledged packets/s within the window (sustained: every device connected before it
starts); `lost` = packets sent with the A flag and never acknowledged + packets acknowledged whose
rows are not all in `readings` (checked against the simulator's list); the ingest → event
latency `ingest_to_event_p99_ms`: the receiver's own figure, from the moment it read the packet
off the socket to `monitoring_events.detected_at` (the database's clock when the checks opened
the event; same host, same clock), for every event it opened (its log line `event_p99_ms`).
Printed beside it: the simulator's send → event for the exceedances it sent, which adds the time
the packet waited in TCP's buffers while the receiver was full (with every device keeping one
packet in flight, ≈ devices ÷ packets/s, Little's law). The last stdout line is the JSON result.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.load import admin, holds, scratch_url, sql, timed
from bench.servers import OUT, PERMITMAP
from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from geo.db import make_engine
from geo.migrate import upgrade
from geo.monitoring.simulated import register_simulated

SCRATCH_DB = "permitmap_bench_monitor"
DROP_SCRATCH = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
AS_OF = date(2026, 11, 24)
PASSWORD = "bench-simulator"
TARGET_PER_S, TARGET_RATIO, TARGET_P99_MS = 2000, 0.5, 2000


def prepare(url: str, units: int, *, reuse: bool) -> Engine:
    """The scratch database with the demo of `units` units, migrated to head."""
    if reuse and holds(url, SCRATCH_DB, units):
        print(f"reusing database {SCRATCH_DB} ({units:,} units)")
        engine = make_engine(url)
        upgrade(engine)
        return engine
    admin(url, DROP_SCRATCH, f"CREATE DATABASE {SCRATCH_DB}")
    engine = make_engine(url)
    upgrade(engine)
    options = DemoOptions(units=units, as_of=AS_OF)
    seconds = timed(lambda: write_demo(engine, build_demo(options)))[1]
    admin(url, "VACUUM ANALYZE", database=SCRATCH_DB)
    print(f"built database {SCRATCH_DB}: {units:,} units in {seconds:.0f} s")
    return engine


def reset(engine: Engine, devices: int) -> None:
    """Register the simulated devices (just now, never heard from); no readings, no events."""
    with Session(engine) as session, session.begin():
        session.execute(text("DELETE FROM monitoring_devices"))
        registered = register_simulated(session, count=devices, password=PASSWORD)
        session.execute(text("TRUNCATE readings"))
        session.execute(text("DELETE FROM monitoring_events"))
    if registered < devices:
        raise SystemExit(f"only {registered:,} outlets for {devices:,} devices: raise --units")
    sql(engine, "ANALYZE monitoring_devices")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    """Start a receiver, wait until its port accepts, yield its pid; SIGTERM it afterwards (it
    writes what is pending) and wait for it."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is in use: choose another --port")
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"monitor-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start; see {log}")
                time.sleep(0.2)
            yield proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"  {name}: {log.read_text().strip().splitlines()[-1]}")


def run_simulator(
    env: dict[str, str], args: argparse.Namespace, port: int, name: str
) -> dict[str, Any]:
    """`permitmap monitor simulate` against `port`; its detailed report."""
    report_file = OUT / f"monitor-{name}-simulator.json"
    command = [
        str(PERMITMAP), "monitor", "simulate", "--devices", str(args.devices),
        "--duration", str(args.duration), "--port", str(port),
        "--exceed-every", str(args.exceed_every), "--report", str(report_file),
        "--password-env", "BENCH_SIM_PASSWORD",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the simulator failed: {done.stderr.strip()}")
    print(f"  simulator: {done.stdout.strip().splitlines()[0]}")
    return json.loads(report_file.read_text())


def acked_not_stored(engine: Engine, report: dict[str, Any]) -> int:
    """Packets acknowledged whose 8 rows are not all in `readings` (minute and hourly)."""
    start = datetime.fromisoformat(report["start"])
    with engine.begin() as conn:
        conn.execute(
            text("CREATE TEMP TABLE acked (mn text, cn int, data_time timestamptz) ON COMMIT DROP")
        )
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy("COPY acked FROM STDIN") as copy:
            for mn, minutes in report["acked_minutes"].items():
                for minute in minutes:
                    copy.write_row((mn, 2051, start + timedelta(minutes=minute)))
            for sent in report["exceedances"]:
                if sent["acked"]:
                    copy.write_row((sent["mn"], 2061, sent["data_time"]))
        return conn.execute(
            text("""
            SELECT count(*) FROM acked a JOIN monitoring_devices d USING (mn)
            WHERE (SELECT count(*) FROM readings r WHERE r.outlet_id = d.outlet_id
                   AND r.cn = a.cn AND r.data_time = a.data_time) < 8
        """)
        ).scalar_one()


def event_latencies_ms(engine: Engine, report: dict[str, Any]) -> tuple[list[float], int]:
    """detected_at − send time of each acknowledged exceedance (ms), and how many opened none."""
    found, missing = [], 0
    with engine.connect() as conn:
        for sent in (s for s in report["exceedances"] if s["acked"]):
            detected = conn.execute(
                text(
                    "SELECT extract(epoch FROM min(detected_at)) FROM monitoring_events"
                    " WHERE outlet_id = :o AND kind = 'exceedance' AND started_at = :at"
                ),
                {"o": sent["outlet_id"], "at": sent["data_time"]},
            ).scalar()
            if detected is None:
                missing += 1
            else:
                found.append((float(detected) - sent["sent_at"]) * 1000)
    return sorted(found), missing


def backends_cpu_seconds(engine: Engine) -> float:
    """CPU seconds so far of the other sessions on the scratch database (the receiver's)."""
    with engine.connect() as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        ).scalars()
        return sum(cpu_seconds(pid) for pid in pids if Path(f"/proc/{pid}").exists())


def receiver_figures(name: str) -> dict[str, str]:
    """The `key=value` figures of the receiver's last log line (its summary when it stopped)."""
    last = (OUT / f"monitor-{name}.log").read_text().strip().splitlines()[-1]
    return dict(token.split("=", 1) for token in last.split() if "=" in token)


def phase(
    name: str,
    command: list[str],
    engine: Engine,
    env: dict[str, str],
    args: argparse.Namespace,
    port: int,
) -> dict[str, Any]:
    """One receiver under the simulator: its report and figures, lost packets, CPU seconds."""
    sql(engine, "TRUNCATE readings", "DELETE FROM monitoring_events")
    sql(engine, "UPDATE monitoring_devices SET registered_at = now(), last_seen = NULL")
    print(f"{name}: {' '.join(command[1:])}")
    with running(name, command, env, port) as pid:
        before = cpu_seconds(pid), children_cpu_seconds()
        report = run_simulator(env, args, port, name)
        cpu = {
            "receiver": cpu_seconds(pid) - before[0],
            "simulator": children_cpu_seconds() - before[1],
            "database": backends_cpu_seconds(engine),
        }
    missing_rows = acked_not_stored(engine, report)
    result = {
        "report": report,
        "figures": receiver_figures(name),
        "per_s": report["acked_per_s"],
        "lost": report["lost"] + missing_rows,
        "acked_not_stored": missing_rows,
    }
    print(
        f"  {report['acked_per_s']:,.0f} packets/s acknowledged; lost {result['lost']}"
        f" ({report['lost']} never acknowledged, {missing_rows} acknowledged but not stored)"
    )
    print(
        "  CPU seconds in the phase: "
        + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())
        + f" (of {2 * (args.duration):.0f} available on 2 cores during the sending alone)"
    )
    return result


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children (the simulator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], share: float) -> float | None:
    """The value at `share` of the sorted values (nearest rank)."""
    return values[min(int(len(values) * share), len(values) - 1)] if values else None


def describe(latencies: list[float]) -> str:
    """The latencies' count, median, p99 and maximum."""
    if not latencies:
        return "no exceedance measured"
    return (
        f"{len(latencies)} exceedances, p50 {percentile(latencies, 0.5):.0f} ms,"
        f" p99 {percentile(latencies, 0.99):.0f} ms, max {latencies[-1]:.0f} ms"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.monitor", description=__doc__)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    parser.add_argument("--units", type=int, default=10_000, help="demo units (~1.2 outlets each)")
    parser.add_argument("--exceed-every", type=int, default=50, help="every K-th device exceeds")
    parser.add_argument("--port", type=int, default=9312, help="the receiver's; bare: +1")
    parser.add_argument("--reuse", action="store_true", help=f"reuse {SCRATCH_DB}; keep it")
    parser.add_argument("--keep", action="store_true", help=f"keep database {SCRATCH_DB}")
    parser.add_argument("--skip-bare", action="store_true", help="measure the receiver only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; the last stdout line is the JSON result."""
    args = parse_args(argv)
    url = scratch_url(SCRATCH_DB)
    engine = prepare(url, args.units, reuse=args.reuse)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERMITMAP_MONITOR_")}
    env |= {"DATABASE_URL": url, "BENCH_SIM_PASSWORD": PASSWORD}
    load = os.getloadavg()
    try:
        reset(engine, args.devices)
        print(
            f"{args.devices:,} devices; load average before {load[0]:.2f}, {os.cpu_count()} cores"
        )
        full = phase(
            "receiver",
            [str(PERMITMAP), "monitor", "serve", "--port", str(args.port)],
            engine, env, args, args.port,
        )  # fmt: skip
        latencies, no_event = event_latencies_ms(engine, full["report"])
        figures = full["figures"]
        print(
            f"  receiver: receipt → acknowledgement p50 {figures.get('ack_p50_ms')} ms,"
            f" p99 {figures.get('ack_p99_ms')} ms; receipt → event p50"
            f" {figures.get('event_p50_ms')} ms, p99 {figures.get('event_p99_ms')} ms"
            f" ({figures.get('event_n')} events); batch p50 {figures.get('batch_p50_ms')} ms"
        )
        print(
            f"  simulator send → event: {describe(latencies)}; {no_event} exceedances without an"
            f" event (each device keeps one packet in flight: send → acknowledgement ≈"
            f" {args.devices:,} / {full['per_s']:,.0f} per s"
            f" = {args.devices / max(full['per_s'], 1):.1f} s)"
        )
        bare = None
        if not args.skip_bare:
            bare = phase(
                "bare",
                [sys.executable, "-m", "bench.monitor_bare", "--port", str(args.port + 1)],
                engine, env, args, args.port + 1,
            )  # fmt: skip
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            admin(url, DROP_SCRATCH)
    report(args, full, bare, no_event, load)


def report(
    args: argparse.Namespace,
    full: dict[str, Any],
    bare: dict[str, Any] | None,
    no_event: int,
    load: tuple[float, float, float],
) -> None:
    """Targets, ratio, and the JSON line."""
    ratio = full["per_s"] / bare["per_s"] if bare else None
    found = full["figures"].get("event_p99_ms")
    p99 = float(found) if found is not None else None  # receipt → event, the receiver's figure
    lost = full["lost"]
    checks = [
        (f"≥ {TARGET_PER_S:,} packets/s with every check", full["per_s"] >= TARGET_PER_S),
        (f"receipt → event p99 under {TARGET_P99_MS} ms", p99 is not None and p99 < TARGET_P99_MS),
        ("an event for every exceedance", no_event == 0),
        ("0 lost", lost == 0),
    ]
    if ratio is not None:
        checks.append(
            (f"≥ {TARGET_RATIO} × the bare receiver ({ratio:.2f})", ratio >= TARGET_RATIO)
        )
    for label, met in checks:
        print(f"target {label}: {'met' if met else 'MISSED'}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (before {load[0]:.2f})")
    print(
        json.dumps(
            {
                "bench": "monitor",
                "devices": args.devices,
                "packets_per_s": round(full["per_s"], 1),
                "bare_packets_per_s": round(bare["per_s"], 1) if bare else None,
                "ingest_to_event_p99_ms": round(p99, 1) if p99 is not None else None,
                "lost": lost,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Benchmark: the demo's units served as vector tiles and OGC API Features, permitmap beside tipg.

`python -m bench.serve --units 1000000` (what `make bench-serve` runs). One scratch database,
`permitmap_bench_serve`, on the app's server (DATABASE_URL, else the embedded cluster), is served
in turn by `permitmap serve` and by tipg (installed into .bench/tipg-venv on first use), each a
fresh process on loopback. One client, 8 keep-alive HTTP/1.1 connections, sends both the same
tiles (z6, z9, z12) twice (cold, warm) and the same feature queries, with `Accept-Encoding: gzip`.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.load import admin, scratch_url, sql, timed
from bench.screen import verdict
from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from geo.db import make_engine
from geo.migrate import upgrade
from geo.screening import screen
from geo.settings import PROJECT_ROOT

SCRATCH_DB = "permitmap_bench_serve"
DROP_SCRATCH = f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)"
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SALT = "bench-serve"  # orders the seeded sample of units behind the tiles and queries
HOST = "127.0.0.1"
CONCURRENCY = 8
SAMPLED_TILES = {9: 40, 12: 200}  # z6: every tile over the province
BBOX_QUERIES, ITEM_QUERIES, WARMUP_QUERIES = 100, 1000, 32
BBOX_HALF_DEG = 0.02  # a bbox of 0.04° × 0.04° around a sampled unit
LIMIT = 1000
REQUEST_TIMEOUT_S = 120.0
MIN_CPU_WALL_S = 0.3  # shorter phases get no CPU shares (/proc counts 10 ms ticks)
DISTURBED = 0.1  # the share of a core foreign processes may use before figures are suspect
TARGET_COLD, TARGET_WARM, TARGET_Z12_P99_MS, TARGET_FEATURES = 1.5, 10.0, 50.0, 1.0
TIPG_VERSION = "1.6.1"
TIPG_VENV = PROJECT_ROOT / ".bench" / "tipg-venv"
OUT = PROJECT_ROOT / "bench" / "out"
PERMITMAP = Path(sys.executable).with_name("permitmap")  # the CLI of the venv we run in
REQUEST = "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: gzip\r\n\r\n"
Tile = tuple[int, int, int]
TILES_SQL = text(  # the WebMercatorQuad tiles (x, y) at zoom :z holding units, :n of them
    "SELECT x, y FROM (SELECT DISTINCT floor((ST_X(geom) + 180) / 360 * 2 ^ :z)::int AS x, "
    "floor((1 - asinh(tan(radians(ST_Y(geom)))) / pi()) / 2 * 2 ^ :z)::int AS y FROM units) t "
    "ORDER BY hashtext(x || '/' || y || :salt), x, y LIMIT :n"
)


@dataclass(frozen=True)
class Server:
    """A server under test: its command line, environment and URL templates."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    probe: str  # answers 200 when the tiles exist
    tile: str
    items: str
    item: str


@dataclass(frozen=True)
class Workload:
    """What both servers are asked, in the same order."""

    tiles: dict[int, list[Tile]]
    bboxes: list[str]
    ids: list[int]
    warmup_ids: list[int]


@dataclass(frozen=True)
class Sample:
    """One response: status, seconds to its last byte, bytes on the wire, the body if kept."""

    path: str
    status: int
    seconds: float
    size: int
    encoding: str
    body: bytes | None


@dataclass(frozen=True)
class Phase:
    """A list of requests run at CONCURRENCY: its samples, wall seconds, CPU seconds spent."""

    samples: list[Sample]
    wall: float
    server_cpu: float
    client_cpu: float
    machine_cpu: float
    others_cpu: float  # processes foreign to the benchmark (a lower bound)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return len(self.samples) / self.wall

    @property
    def errors(self) -> int:
        """Responses other than 200 (0: no response)."""
        return sum(s.status != 200 for s in self.samples)

    def ms(self, q: int) -> float:
        """Latency percentile `q` in milliseconds."""
        return percentile([s.seconds for s in self.samples], q)


@dataclass
class Result:
    """A server's phases: tile passes (zoom → phase), bbox queries, items by id."""

    passes: list[dict[int, Phase]] = field(default_factory=list)
    bbox: Phase | None = None
    item: Phase | None = None


def percentile(seconds: list[float], q: int) -> float:
    """Percentile `q` (inclusive interpolation) of `seconds`, in milliseconds."""
    if len(seconds) < 2:
        return 1000 * seconds[0]
    return 1000 * statistics.quantiles(seconds, n=100, method="inclusive")[q - 1]


def holds(url: str, units: int) -> bool:
    """Whether the scratch database exists and holds exactly `units` units."""
    server = make_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False)
    )
    exists = sql(server, f"SELECT count(*) FROM pg_database WHERE datname = '{SCRATCH_DB}'")
    server.dispose()
    if not exists:
        return False
    engine = make_engine(url)
    found = None
    if sql(engine, "SELECT to_regclass('public.units') IS NOT NULL"):
        found = sql(engine, "SELECT count(*) FROM units")
    engine.dispose()
    return found == units


def prepare(url: str, units: int, *, reuse: bool) -> Engine:
    """The scratch database with the demo of `units` units, migrated to head and screened."""
    if reuse and holds(url, units):
        print(f"reusing database {SCRATCH_DB} ({units:,} units)")
        engine = make_engine(url)
        upgrade(engine)
    else:
        admin(url, DROP_SCRATCH, f"CREATE DATABASE {SCRATCH_DB}")
        engine = make_engine(url)
        upgrade(engine)
        options = DemoOptions(units=units, as_of=AS_OF)
        seconds = timed(lambda: write_demo(engine, build_demo(options)))[1]
        admin(url, "VACUUM ANALYZE", database=SCRATCH_DB)
        print(f"built database {SCRATCH_DB}: {units:,} units in {seconds:.0f} s")
    if not sql(engine, "SELECT EXISTS (SELECT FROM screening_runs)"):
        with Session(engine) as session:
            summary, seconds = timed(lambda: screen(session, now=NOW))
            session.commit()
        print(f"screened: {summary.detected:,} flags in {seconds:.1f} s")
    return engine


def refresh_layers(url: str) -> None:
    """`permitmap layers refresh` on the scratch database, when the command exists."""
    command = [str(PERMITMAP), "layers", "refresh"]
    env = {**os.environ, "DATABASE_URL": url}
    helped = subprocess.run([*command, "--help"], env=env, capture_output=True, check=False)
    if helped.returncode != 0:
        print("permitmap layers refresh: no such command yet, skipped")
        return
    seconds = timed(lambda: subprocess.run(command, env=env, check=True))[1]
    print(f"permitmap layers refresh: {seconds:.1f} s")


def tile_of(lon: float, lat: float, z: int) -> Tile:
    """The WebMercatorQuad tile (z, x, y) holding a WGS 84 point."""
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return z, min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def workload(engine: Engine) -> Workload:
    """z6: every tile over the province's extent; z9, z12: a seeded sample of the tiles holding
    units, each such tile equally likely; bboxes and ids: around and of a seeded sample of units."""
    with engine.connect() as conn:
        extent = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                "FROM (SELECT ST_Extent(geom) AS e FROM admin_regions) s"
            )
        ).one()
        tiles: dict[int, list[Tile]] = {}
        for z, n in SAMPLED_TILES.items():
            found = conn.execute(TILES_SQL, {"z": z, "n": n, "salt": SALT})
            tiles[z] = [(z, x, y) for x, y in found]
        rows = conn.execute(
            text(
                "SELECT id, ST_X(geom), ST_Y(geom) FROM units "
                "ORDER BY hashtext(id::text || :salt), id LIMIT :n"
            ),
            {"salt": SALT, "n": ITEM_QUERIES + WARMUP_QUERIES},
        ).all()
    _, x0, y0 = tile_of(extent[0], extent[3], 6)
    _, x1, y1 = tile_of(extent[2], extent[1], 6)
    tiles = {6: [(6, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]} | tiles
    h = BBOX_HALF_DEG
    bboxes = [f"{x - h:.5f},{y - h:.5f},{x + h:.5f},{y + h:.5f}" for _, x, y in rows]
    ids = [row[0] for row in rows]
    return Workload(tiles, bboxes[:BBOX_QUERIES], ids[:ITEM_QUERIES], ids[-WARMUP_QUERIES:])


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq-style URL tipg (pydantic + asyncpg) accepts: a unix
    socket directory goes into the host part, percent-encoded."""
    u = make_url(url)
    host = u.host or str(u.query.get("host", "localhost"))
    port = u.port or int(str(u.query.get("port", 5432)))
    password = f":{quote(u.password, safe='')}" if u.password else ""
    return f"postgresql://{u.username}{password}@{quote(host, safe='')}:{port}/{u.database}"


def permitmap_server(url: str, port: int) -> Server:
    """`permitmap serve` on the scratch database."""
    command = [str(PERMITMAP), "serve"]
    env = {**os.environ, "DATABASE_URL": url}
    items = "/ogc/collections/units/items"
    return Server(
        name="permitmap",
        command=[*command, "--host", HOST, "--port", str(port)],
        env=env,
        port=port,
        probe="/tiles/units/0/0/0.mvt",
        tile="/tiles/units/{z}/{x}/{y}.mvt",
        items=items,
        item=items + "/{id}",
    )


def tipg_server(url: str, port: int) -> Server:
    """tipg on uvicorn (its defaults: one worker, info log), exposing public.units only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "POSTGRES_"))}
    env.update(DATABASE_URL=asyncpg_url(url), TIPG_DB_TABLES='["public.units"]')
    base, uvicorn = "/collections/public.units", str(TIPG_VENV / "bin" / "uvicorn")
    return Server(
        name="tipg",
        command=[uvicorn, "tipg.main:app", "--host", HOST, "--port", str(port)],
        env=env,
        port=port,
        probe=base,
        tile=base + "/tiles/WebMercatorQuad/{z}/{x}/{y}",
        items=base + "/items",
        item=base + "/items/{id}",
    )


def ensure_tipg() -> None:
    """tipg and the uvicorn permitmap runs on, in their own venv, installed on first use."""
    if list(TIPG_VENV.glob(f"lib/python*/site-packages/tipg-{TIPG_VERSION}.dist-info")):
        return
    print(f"installing tipg {TIPG_VERSION} into {TIPG_VENV} (once)")
    subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    pip = [str(TIPG_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"tipg=={TIPG_VERSION}", f"uvicorn=={version('uvicorn')}"], check=True)


def status_of(port: int, path: str) -> int:
    """HTTP status of one GET (0: no answer). The client closes the connection, so no TIME_WAIT
    is left on the server's port (permitmap refuses to start on a port that has one)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


@contextmanager
def running(server: Server) -> Iterator[int]:
    """Start the server, wait until it answers, yield its pid; stop it afterwards."""
    with socket.socket() as probe:
        if probe.connect_ex((HOST, server.port)) == 0:
            raise SystemExit(f"port {server.port} is in use: choose another --port-base")
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / f"serve-{server.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server.command, env=server.env, stdout=out, stderr=subprocess.STDOUT, cwd=OUT
        )
        try:
            deadline = time.monotonic() + 600
            while status_of(server.port, "/openapi.json") == 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{server.name} did not start; see {log}")
                time.sleep(0.5)
            yield proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str], bytes]:
    """Send one request on a keep-alive connection; read status, headers and the whole body."""
    writer.write(request)
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        while (await reader.readline()) not in (b"\r\n", b""):  # trailers
            pass
        body = b"".join(parts)
    else:
        body, headers["connection"] = await reader.read(), "close"
    return int(head[0].split(" ", 2)[1]), headers, body


async def fetch_all(port: int, paths: list[str], keep: bool) -> tuple[list[Sample], float]:
    """GET every path, CONCURRENCY workers each on its own keep-alive connection."""
    samples = [Sample(path, 0, 0.0, 0, "", None) for path in paths]
    jobs = iter(enumerate(paths))
    failures = (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        for i, path in jobs:
            request = REQUEST.format(path=path, host=HOST, port=port).encode()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    status, headers, body = await http_get(reader, writer, request)
            except failures:
                status, headers, body = 0, {"connection": "close"}, b""
            seconds = time.perf_counter() - started
            encoding = headers.get("content-encoding", "")
            samples[i] = Sample(path, status, seconds, len(body), encoding, body if keep else None)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(CONCURRENCY, len(paths)))))
    return samples, time.perf_counter() - started


def process_cpu(pid: int | str) -> tuple[float, float]:
    """When process `pid` started (seconds since boot) and its CPU seconds so far (user +
    system); (0, 0) when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(stat[19]) / tick, (int(stat[11]) + int(stat[12])) / tick


def machine_cpu() -> float:
    """CPU seconds so far of the whole machine, all cores (/proc/stat: all but idle, iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def foreign_cpu(server: int) -> dict[tuple[str, float], float]:
    """(pid, start) → CPU seconds of every process foreign to the benchmark: neither the server,
    nor us, nor PostgreSQL's processes (even exiting ones), bar backends of other databases."""
    ours = {str(server), str(os.getpid())}
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            postgres = Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
            words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        backend = postgres and len(words) > 3 and (b"[local]" in words or b"(" in words[3])
        if pid not in ours and (not postgres or (backend and words[2] != SCRATCH_DB.encode())):
            start, cpu = process_cpu(pid)
            found[pid, start] = cpu
    return found


def run_phase(port: int, pid: int, paths: list[str], *, keep: bool = False) -> Phase:
    """One phase: the paths at CONCURRENCY, with the CPU the server, we, the whole machine and
    the foreign processes alive at its end (a lower bound) spent meanwhile."""
    foreign, since = foreign_cpu(pid), float(Path("/proc/uptime").read_text().split()[0])
    before = process_cpu(pid)[1], time.process_time(), machine_cpu()
    samples, wall = asyncio.run(fetch_all(port, paths, keep))
    after = process_cpu(pid)[1], time.process_time(), machine_cpu()
    others = sum(
        cpu - foreign[key] if key in foreign else cpu * (key[1] >= since)
        for key, cpu in foreign_cpu(pid).items()
    )
    server, client, machine = (b - a for a, b in zip(before, after, strict=True))
    return Phase(samples, wall, server, client, machine, others)


def prewarm(engine: Engine) -> None:
    """Load the units table, permitmap's layer tables (`layer_*`), materialised views and their
    indexes into shared buffers, so that both servers start from the same database cache."""
    sql(
        engine,
        "CREATE EXTENSION IF NOT EXISTS pg_prewarm",
        "WITH t AS (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND "
        "(relkind = 'm' OR relname = 'units' OR relkind = 'r' AND relname LIKE 'layer\\_%')) "
        "SELECT sum(pg_prewarm(oid)) FROM (SELECT oid FROM t UNION "
        "SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM t)) r",
    )


def tile_pass(port: int, pid: int, server: Server, work: Workload, keep: bool) -> dict[int, Phase]:
    """One pass over the tile list, a phase per zoom."""
    return {
        z: run_phase(port, pid, [server.tile.format(z=z, x=x, y=y) for z, x, y in tiles], keep=keep)
        for z, tiles in work.tiles.items()
    }


def bench_server(server: Server, work: Workload, engine: Engine) -> Result:
    """A fresh process: warm-up (untimed), tile pass 1 (cold), pass 2 (warm), bbox, items."""
    prewarm(engine)
    result, port = Result(), server.port
    with running(server) as pid:
        (tiles, tiles_s), (items, items_s) = (
            timed(lambda path=path: status_of(port, path))
            for path in (server.probe, server.item.format(id=work.warmup_ids[0]))
        )
        print(f"{server.name}: GET {server.probe} {tiles} ({tiles_s:.2f} s), ", end="")
        print(f"GET {server.item} {items} ({items_s:.2f} s)")
        has_tiles, has_items = tiles == 200, items == 200
        for found, what in ((has_tiles, "tiles"), (has_items, "features")):
            if not found:
                print(f"{server.name}: no {what} endpoint (not 200): {what} not measured")
        if has_items:  # opens the database pool's connections; touches no tile
            run_phase(port, pid, [server.item.format(id=i) for i in work.warmup_ids])
        if has_tiles:
            result.passes = [tile_pass(port, pid, server, work, keep) for keep in (True, False)]
        if has_items:
            bboxes = [f"{server.items}?bbox={b}&limit={LIMIT}" for b in work.bboxes]
            result.bbox = run_phase(port, pid, bboxes, keep=True)
            result.item = run_phase(port, pid, [server.item.format(id=i) for i in work.ids])
    return result


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    """A protobuf varint at `i`: its value and the index after it."""
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _submessages(buf: memoryview, number: int) -> Iterator[memoryview]:
    """The length-delimited fields numbered `number` of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        wire = key & 7
        if wire == 0:
            i = _varint(buf, i)[1]
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        elif wire == 2:
            size, i = _varint(buf, i)
            if key >> 3 == number:
                yield buf[i : i + size]
            i += size
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")


def body_of(sample: Sample) -> bytes:
    """The body, gunzipped when it came compressed."""
    assert sample.body is not None
    return gzip.decompress(sample.body) if sample.encoding == "gzip" else sample.body


def tile_features(sample: Sample) -> int:
    """Features in an MVT tile, all layers (Tile.layers is field 3, Layer.features field 2)."""
    layers = _submessages(memoryview(body_of(sample)), 3)
    return sum(sum(1 for _ in _submessages(layer, 2)) for layer in layers)


def item_counts(phase: Phase) -> list[int]:
    """Features in each GeoJSON FeatureCollection answer (-1 for a failed request)."""
    return [
        len(json.loads(body_of(s)).get("features", [])) if s.status == 200 else -1
        for s in phase.samples
    ]


def tile_totals(phases: dict[int, Phase]) -> tuple[float, float, float, int]:
    """A whole pass: tiles/s (all tiles ÷ the sum of the phases' walls), p50, p99 ms, errors."""
    seconds = [s.seconds for phase in phases.values() for s in phase.samples]
    wall = sum(phase.wall for phase in phases.values())
    errors = sum(phase.errors for phase in phases.values())
    return len(seconds) / wall, percentile(seconds, 50), percentile(seconds, 99), errors


def phase_line(label: str, phase: Phase) -> str:
    """One readable line: count, rate, latency, mean bytes on the wire, CPU, errors."""
    kb = statistics.mean(s.size for s in phase.samples) / 1024
    gz = sum(s.encoding == "gzip" for s in phase.samples)
    cpu = "cpu: phase too short to tell"
    if phase.wall >= MIN_CPU_WALL_S:
        shares = (phase.server_cpu, phase.client_cpu, phase.machine_cpu, phase.others_cpu)
        server, client, machine, others = (c / phase.wall for c in shares)
        cpu = f"cpu: server {server:4.0%} client {client:4.0%} all {machine:4.0%}"
        cpu += f" others {others:3.0%}"
    return (
        f"  {label:<11}{len(phase.samples):5} {phase.rate:8.1f}/s  p50 {phase.ms(50):6.1f} ms"
        f"  p99 {phase.ms(99):6.1f} ms  {kb:7.1f} kB ({gz} gzip)  {cpu}"
        + (f"  {phase.errors} NOT 200" if phase.errors else "")
    )


def tile_notes(phase: Phase) -> str:
    """Features per tile (median, max) and the slowest tile with its features."""
    done = [(s, tile_features(s)) for s in phase.samples if s.status == 200]
    if not done:
        return ""
    counts = [n for _, n in done]
    slowest, n = max(done, key=lambda pair: pair[0].seconds)
    tile = "/".join(slowest.path.removesuffix(".mvt").split("/")[-3:])
    return (
        f"  features/tile median {statistics.median(counts):,.0f} max {max(counts):,};"
        f" slowest {tile} {1000 * slowest.seconds:.0f} ms ({n:,} features)"
    )


def report_server(name: str, result: Result) -> None:
    """The figures of one server, pass by pass, then its feature queries."""
    for n, phases in enumerate(result.passes, 1):
        print(f"{name}, tile pass {n} ({'fresh process' if n == 1 else 'same process again'}):")
        for z, phase in phases.items():
            print(phase_line(f"z{z}", phase) + (tile_notes(phase) if n == 1 else ""))
        rate, p50, p99, errors = tile_totals(phases)
        print(f"  {'all tiles':<16}{rate:8.1f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms", end="")
        print(f"  {errors} NOT 200" if errors else "")
    if result.bbox and result.item:
        counts = [c for c in item_counts(result.bbox) if c >= 0] or [0]
        print(f"{name}, features (req/s):")
        print(phase_line("bbox", result.bbox), end="")
        print(
            f"  {features_rate(result):,.0f} features/s, {statistics.mean(counts):.0f} per answer"
        )
        print(phase_line("item by id", result.item))


def features_rate(result: Result) -> float:
    """Features per second over the bbox queries."""
    assert result.bbox is not None
    return sum(c for c in item_counts(result.bbox) if c > 0) / result.bbox.wall


def figures(permitmap: Result, tipg: Result | None) -> dict[str, float | None]:
    """The JSON figures; tipg's tiles/s is the better of its two passes."""
    mine = [tile_totals(p)[0] for p in permitmap.passes] + [None, None]
    theirs = [tile_totals(p)[0] for p in tipg.passes] if tipg else []
    return {
        "permitmap_tiles_per_s": mine[0],
        "permitmap_warm_tiles_per_s": mine[1],
        "tipg_tiles_per_s": max(theirs) if theirs else None,
        "permitmap_z12_p99_ms": permitmap.passes[0][12].ms(99) if permitmap.passes else None,
        "permitmap_features_per_s": features_rate(permitmap) if permitmap.bbox else None,
        "tipg_features_per_s": features_rate(tipg) if tipg and tipg.bbox else None,
    }


def judge(fig: dict[str, float | None], clean: bool) -> None:
    """Ratios permitmap / tipg and each target: met, NOT met, or not judged."""
    pairs = (
        ("tiles/s, cold", "permitmap_tiles_per_s", "tipg_tiles_per_s", TARGET_COLD),
        ("tiles/s, warm", "permitmap_warm_tiles_per_s", "tipg_tiles_per_s", TARGET_WARM),
        ("features/s", "permitmap_features_per_s", "tipg_features_per_s", TARGET_FEATURES),
    )
    note = "" if clean else "  (some responses were not 200: not valid)"
    for label, mine, theirs, target in pairs:
        a, b = fig[mine], fig[theirs]
        shown = verdict(a / b, target, at_most=False) if a and b else "not measured"
        print(f"permitmap / tipg, {label}: {shown}{note}")
    p99 = fig["permitmap_z12_p99_ms"]
    met = "not measured" if p99 is None else "met" if p99 < TARGET_Z12_P99_MS else "NOT met"
    shown = "—" if p99 is None else f"{p99:.1f} ms"
    print(
        f"permitmap z12 p99, cold pass: {shown} (target < {TARGET_Z12_P99_MS:.0f} ms: {met}){note}"
    )


def compare_answers(permitmap: Result, tipg: Result) -> None:
    """Whether both servers returned the same number of features for each bbox query."""
    if not (permitmap.bbox and tipg.bbox):
        return
    pairs = list(zip(item_counts(permitmap.bbox), item_counts(tipg.bbox), strict=True))
    same = sum(a == b for a, b in pairs)
    print(f"bbox answers with the same feature count on both: {same} of {len(pairs)}")


def phases(results: dict[str, Result]) -> list[Phase]:
    """Every timed phase of every server."""
    found = []
    for result in results.values():
        found += [phase for tiles in result.passes for phase in tiles.values()]
        found += [phase for phase in (result.bbox, result.item) if phase]
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("--units", type=int, default=1_000_000, help="units (default 1,000,000)")
    parser.add_argument(
        "--reuse", action="store_true", help=f"reuse {SCRATCH_DB} if it holds --units; keep it"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep database {SCRATCH_DB}")
    parser.add_argument("--port-base", type=int, default=8810, help="permitmap's; tipg's is +1")
    parser.add_argument("--skip-tipg", action="store_true", help="serve with permitmap only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; the last stdout line is the JSON result."""
    args = parse_args(argv)
    url = scratch_url(SCRATCH_DB)
    engine = prepare(url, args.units, reuse=args.reuse)
    results: dict[str, Result] = {}
    try:
        refresh_layers(url)
        work = workload(engine)
        sizes = ", ".join(f"z{z} {len(t)}" for z, t in work.tiles.items())
        print(f"tiles: {sizes}; {len(work.bboxes)} bbox queries (limit={LIMIT}), ", end="")
        print(f"{len(work.ids)} items by id; {CONCURRENCY} keep-alive connections, loopback")
        print("every request sends 'Accept-Encoding: gzip' (as browsers do), to both servers")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        if not args.skip_tipg:
            ensure_tipg()
            results["tipg"] = bench_server(tipg_server(url, args.port_base + 1), work, engine)
        results["permitmap"] = bench_server(permitmap_server(url, args.port_base), work, engine)
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            admin(url, DROP_SCRATCH)
    report(results)


def report(results: dict[str, Result]) -> None:
    """Every server's figures, the comparison, the verdicts, and the JSON line last."""
    for name, result in results.items():
        report_server(name, result)
    tipg = results.get("tipg")
    if tipg:
        compare_answers(results["permitmap"], tipg)
    timed_phases = phases(results)
    wall = sum(p.wall for p in timed_phases)
    disturbed = sum(p.others_cpu for p in timed_phases) / wall if wall else 0.0
    if disturbed > DISTURBED:
        print(f"WARNING: processes foreign to the benchmark used {disturbed:.0%} of a core", end="")
        print(" over the timed phases: the figures are disturbed; rerun on an idle machine")
    fig = figures(results["permitmap"], tipg)
    judge(fig, clean=not any(phase.errors for phase in timed_phases))
    print(json.dumps({"bench": "serve"} | {k: v and round(v, 1) for k, v in fig.items()}))


if __name__ == "__main__":
    main()

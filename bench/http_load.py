"""The load generator of `bench.serve`: a raw asyncio HTTP/1.1 client on keep-alive connections.

A phase is a list of GET paths sent at CONCURRENCY over loopback, with `Accept-Encoding: gzip`;
it records every response (status, seconds to its last byte, bytes on the wire) and the CPU the
server, the client, the whole machine and processes foreign to the benchmark spent meanwhile,
read from /proc. See bench/README.md.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
CONCURRENCY = 8
REQUEST_TIMEOUT_S = 120.0
REQUEST = "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept-Encoding: gzip\r\n\r\n"


@dataclass(frozen=True)
class Target:
    """A running server under load: its port, its pid, and the database its PostgreSQL backends
    serve (their CPU counts as the benchmark's, not as foreign)."""

    port: int
    pid: int
    database: str


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


def percentile(seconds: list[float], q: int) -> float:
    """Percentile `q` (inclusive interpolation) of `seconds`, in milliseconds."""
    if len(seconds) < 2:
        return 1000 * seconds[0]
    return 1000 * statistics.quantiles(seconds, n=100, method="inclusive")[q - 1]


def body_of(sample: Sample) -> bytes:
    """The body, gunzipped when it came compressed."""
    assert sample.body is not None
    return gzip.decompress(sample.body) if sample.encoding == "gzip" else sample.body


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


def foreign_cpu(server: int, database: str) -> dict[tuple[str, float], float]:
    """(pid, start) → CPU seconds of every process foreign to the benchmark: neither the server,
    nor us, nor PostgreSQL's processes (even exiting ones), bar backends of databases other than
    `database`."""
    ours = {str(server), str(os.getpid())}
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            postgres = Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
            words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
        except OSError:
            continue
        backend = postgres and len(words) > 3 and (b"[local]" in words or b"(" in words[3])
        if pid not in ours and (not postgres or (backend and words[2] != database.encode())):
            start, cpu = process_cpu(pid)
            found[pid, start] = cpu
    return found


def run_phase(target: Target, paths: list[str], *, keep: bool = False) -> Phase:
    """One phase: the paths at CONCURRENCY, with the CPU the server, we, the whole machine and
    the foreign processes alive at its end (a lower bound) spent meanwhile."""
    pid, database = target.pid, target.database
    foreign, since = foreign_cpu(pid, database), float(Path("/proc/uptime").read_text().split()[0])
    before = process_cpu(pid)[1], time.process_time(), machine_cpu()
    samples, wall = asyncio.run(fetch_all(target.port, paths, keep))
    after = process_cpu(pid)[1], time.process_time(), machine_cpu()
    others = sum(
        cpu - foreign[key] if key in foreign else cpu * (key[1] >= since)
        for key, cpu in foreign_cpu(pid, database).items()
    )
    server, client, machine = (b - a for a, b in zip(before, after, strict=True))
    return Phase(samples, wall, server, client, machine, others)

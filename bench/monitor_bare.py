"""The bare HJ 212 receiver of `bench.monitor`: the floor the real one is compared with.

`python -m bench.monitor_bare --port P` (DATABASE_URL: the scratch database). It only frames,
parses and COPYs: one asyncio Protocol per connection with the same `FrameReader` and
`parse_frame` as the receiver, the packet's rows made by the same `readings_of` for the outlet of
its MN (the registry loaded once, no password checked, no other check), batched every
`--batch-ms` or `--batch-max-packets` like the receiver (same defaults, same garbage-collector
settings), COPYed straight into `readings` (no staging table, no repeat handling, no checks,
no last-seen, no backpressure) and committed, then acknowledged
(9014 from `ack_for`). SIGTERM stops it after writing what is pending; its last stderr line is
`bare receiver stopped: packets=… committed=… acked=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import psycopg
from sqlalchemy.engine import make_url

from api.cli_monitor import GC_THRESHOLDS
from geo.clock import CHINA
from geo.db import database_url
from geo.hj212 import FrameError, FrameReader, Packet, ack_for, parse_frame
from geo.monitoring.ingest import readings_of
from geo.monitoring.readings import BATCH_COLUMNS
from geo.settings import ClusterSettings, DatabaseSettings

COPY_SQL = f"COPY readings ({', '.join(BATCH_COLUMNS)}) FROM STDIN"


class BareConnection(asyncio.Protocol):
    """Bytes → frames → packets → pending; replies written back."""

    def __init__(self, server: BareServer) -> None:
        self.server = server
        self.reader = FrameReader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Parse every complete frame; queue its rows."""
        for item in self.reader.feed(data):
            if isinstance(item, FrameError):
                continue
            try:
                packet = parse_frame(item)
            except FrameError:
                continue
            self.server.take(self, packet)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport."""
        self.transport = None


class BareServer:
    """The pending packets and the batch loop."""

    def __init__(self, conninfo: str, batch_ms: int, batch_max: int) -> None:
        self.db = psycopg.connect(conninfo)
        self.outlets = dict(self.db.execute("SELECT mn, outlet_id FROM monitoring_devices"))
        now = datetime.now(CHINA).date().replace(day=1)
        self.db.execute("SELECT monitoring_partition(%s)", (now,))
        self.db.commit()
        self.batch_s, self.batch_max = batch_ms / 1000, batch_max
        self.pending: list[tuple[BareConnection, Packet, list[tuple[object, ...]]]] = []
        self.counts = {"packets": 0, "committed": 0, "acked": 0}
        self.executor = ThreadPoolExecutor(1)
        self.wakeup = asyncio.Event()

    def take(self, connection: BareConnection, packet: Packet) -> None:
        """Queue a packet's rows (for the outlet of its MN)."""
        self.counts["packets"] += 1
        outlet = self.outlets.get(packet.mn)
        if outlet is None or packet.cp.data_time is None:
            return
        rows, _ = readings_of(packet, outlet)
        values = [
            (r.outlet_id, r.pollutant_code, r.cn, r.data_time, r.value, r.min, r.max, r.cou, r.flag)
            for r in rows
        ]
        self.pending.append((connection, packet, values))
        if len(self.pending) == 1 or len(self.pending) >= self.batch_max:
            self.wakeup.set()

    def copy(self, rows: list[tuple[object, ...]]) -> None:
        """COPY the rows into `readings` and commit (the database thread)."""
        with self.db.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
            for row in rows:
                copy.write_row(row)
        self.db.commit()

    async def batches(self, stopping: asyncio.Event) -> None:
        """Write and acknowledge batches until stopped with nothing pending."""
        loop = asyncio.get_running_loop()
        while not (stopping.is_set() and not self.pending):
            if not self.pending:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            if len(self.pending) < self.batch_max and not stopping.is_set():
                await asyncio.sleep(self.batch_s)
            batch, self.pending[: self.batch_max] = self.pending[: self.batch_max], []
            await loop.run_in_executor(
                self.executor, self.copy, [row for _, _, rows in batch for row in rows]
            )
            self.counts["committed"] += len(batch)
            for connection, packet, _ in batch:
                reply = ack_for(packet)
                if reply is not None and connection.transport is not None:
                    connection.transport.write(reply)
                    self.counts["acked"] += 1


async def serve(port: int, conninfo: str, batch_ms: int, batch_max: int) -> None:
    """Listen on loopback until SIGTERM/SIGINT."""
    server = BareServer(conninfo, batch_ms, batch_max)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: BareConnection(server), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    gc.freeze()  # as `permitmap monitor serve` does
    gc.set_threshold(*GC_THRESHOLDS)
    print(f"bare receiver listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        server.wakeup.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    await server.batches(stopping)
    listener.close()
    counts = " ".join(f"{k}={v}" for k, v in server.counts.items())
    print(f"bare receiver stopped: {counts}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the bare receiver."""
    parser = argparse.ArgumentParser(prog="python -m bench.monitor_bare", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch-ms", type=int, default=200)
    parser.add_argument("--batch-max-packets", type=int, default=1000)
    args = parser.parse_args(argv)
    url = make_url(database_url(DatabaseSettings(), ClusterSettings()))
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(serve(args.port, conninfo, args.batch_ms, args.batch_max_packets))


if __name__ == "__main__":
    main()

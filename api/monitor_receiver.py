"""The HJ 212-2017 TCP receiver (`permitmap monitor serve`): many devices on long-lived
connections, their packets stored in batches, acknowledged once committed.

Shape (one process, one asyncio event loop, one database thread):
- each connection is an `asyncio.Protocol` (`DeviceConnection`) with its own `FrameReader`
  (bounded buffer, resynchronisation on garbage): asyncio's callback API, which costs no task and
  no timer per read, so 10,000 connections stay cheap. Frames are parsed and judged at once
  (`geo.monitoring.ingest.accept`, against the device registry cached in memory); nothing on the
  event loop waits for the database or for another connection;
- accepted packets go to one pending list; one batch task hands them, every `batch_ms` or
  `batch_max_packets`, to `geo.monitoring.writer.BatchWriter` in the database thread (one
  transaction: readings, checks, last seen, commit), then writes each committed packet's
  acknowledgement to its connection (dropped if that connection closed meanwhile: the device
  re-sends, the repeat is stored once and acknowledged);
- a housekeeping task closes connections without a valid frame for `idle_timeout_s` (slow,
  half-open, garbage-only), reloads the registry every `registry_reload_s` (and, at most every 5
  s, when an unknown MN or a wrong password arrives: a device just registered or given a new
  password), runs the offline sweep every `offline_sweep_s`, drops partitions past
  `retention_months` at start and daily, and logs a summary of the counters every minute.

Bounds: `max_connections` (more are closed at once), the frame size (`max_data_bytes`), a
connection closed after 16 bad frames in a row or when it does not read its replies (64 KiB
unsent), and backpressure: at most about one batch waits in memory. When `batch_max_packets`
are pending, reading stops on every connection (their packets wait in TCP's buffers, then in
the devices); each time the batch task takes a batch, as many connections are read again as
there is room for, the longest paused first, so every device takes its turn. A packet's time from
receipt to acknowledgement is then about one batch interval plus one transaction whatever the
load (`ack_ms`), and an overloaded receiver slows devices down instead of growing a queue.

Answers (`geo.hj212.replies`): 9014 (9013 for a notice) after commit when Flag asks; 9011 QnRtn 4
(unknown MN) / 3 (wrong PW) when Flag asks; nothing for a bad CRC (the standard: "执行结束"), a
malformed or oversized frame, garbage. Everything is counted (`Receiver.counts`); logs carry MNs
(equipment ids) and QNs, never passwords nor addresses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TypeVar

from api.monitor_connection import DeviceConnection
from api.monitor_stats import LatencyHistogram
from geo.clock import Clock
from geo.errors import SetupError
from geo.hj212 import FrameError, parse_frame
from geo.monitoring.devices import Device
from geo.monitoring.ingest import Accepted, Reason, Rejection, accept
from geo.monitoring.writer import BatchResult, BatchWriter, retention_start
from geo.settings import MonitorSettings

log = logging.getLogger("permitmap.monitor")

MISS_RELOAD_S = 5.0  # an unknown MN or a wrong password reloads the registry at most this often
SUMMARY_S = 60.0
RETENTION_S = 24 * 3600.0
T = TypeVar("T")


class Receiver:
    """The TCP server, its batch task and its housekeeping (see the module docstring)."""

    def __init__(self, settings: MonitorSettings, writer: BatchWriter, *, clock: Clock) -> None:
        self.settings = settings
        self.writer = writer
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self.registry: dict[str, Device] = {}
        self.connections: set[DeviceConnection] = set()
        self.pending: list[Accepted] = []
        self.port = settings.port
        self._opened = 0
        self._paused: dict[DeviceConnection, None] = {}  # in the order they were paused
        self._full = False  # pending is full: no connection is read until there is room
        self.ack_ms = LatencyHistogram()  # receipt → acknowledgement sent (after commit)
        self.event_ms = LatencyHistogram()  # receipt → event detected (the database's clock)
        self.batch_ms = LatencyHistogram()  # the writer's time per batch
        self._wakeup = asyncio.Event()
        self._first_pending = 0.0
        self._earliest = retention_start(clock.now(), settings.retention_months)
        self._last_miss_reload = 0.0
        self._warned: set[str] = set()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="monitor-db")
        self._stopping = False
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the registry, apply retention, listen, start the background tasks."""
        await self._db(self.writer.apply_retention, self.settings.retention_months)
        registry = await self._db(self.writer.load_registry)
        if registry is None:
            raise SetupError("the device registry could not be read from the database")
        self.registry = registry
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: DeviceConnection(self),
            self.settings.host,
            self.settings.port,
            backlog=1024,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks = [
            asyncio.create_task(self._batches(), name="monitor-batches"),
            asyncio.create_task(self._housekeeping(), name="monitor-housekeeping"),
        ]
        log.info(
            "HJ 212 receiver on %s:%d, %d devices registered",
            self.settings.host,
            self.port,
            len(self.registry),
        )

    async def stop(self) -> None:
        """Stop listening, write (and acknowledge) what is pending, close every connection."""
        if self._server is not None:
            self._server.close()
        batches, housekeeping = self._tasks or (None, None)
        if housekeeping is not None:
            housekeeping.cancel()
            with suppress(asyncio.CancelledError):
                await housekeeping
        self._stopping = True
        self._wakeup.set()
        if batches is not None:
            await batches  # writes what is pending, then returns
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
        self._executor.shutdown(wait=True)
        log.info("HJ 212 receiver stopped: %s", self.summary())

    async def _db(self, function: Callable[..., T], *args: object) -> T:
        """Run a blocking writer method in the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # --- connections -------------------------------------------------------------------------

    def register(self, connection: DeviceConnection) -> bool:
        """Accept a new connection unless at `max_connections`."""
        if len(self.connections) >= self.settings.max_connections:
            self.counts["connections_refused"] += 1
            return False
        self._opened += 1
        connection.number = self._opened
        self.connections.add(connection)
        self.counts["connections_opened"] += 1
        if self._full:
            self._pause(connection)
        return True

    def unregister(self, connection: DeviceConnection) -> None:
        """A connection closed."""
        if connection in self.connections:
            self.connections.discard(connection)
            self._paused.pop(connection, None)
            self.counts["connections_closed"] += 1

    # --- packets -----------------------------------------------------------------------------

    def frame(self, connection: DeviceConnection, raw: bytes) -> None:
        """Parse and judge one frame; queue it, or answer its rejection."""
        received = time.time()
        try:
            packet = parse_frame(raw, max_data_length=self.settings.max_data_bytes)
        except FrameError as exc:
            connection.bad_frame(exc.reason)
            self._warn(exc.reason, "frame refused (%s): %s", exc.reason, exc.message)
            return
        connection.good_frame()
        self.counts["packets"] += 1
        judged = accept(packet, self.registry, now=self.clock.now(), earliest=self._earliest)
        if isinstance(judged, Rejection):
            self.counts[judged.reason] += 1
            if judged.reply is not None:
                connection.send(judged.reply)
            if judged.reason in (Reason.UNKNOWN_MN, Reason.WRONG_PASSWORD):
                self._reload_on_miss()
            self._warn(judged.reason, "packet from MN=%s not stored: %s", packet.mn, judged.reason)
            return
        judged.received, judged.reply_to = received, connection
        self.counts["values_skipped"] += judged.skipped
        if not self.pending:
            self._first_pending = time.monotonic()
            self._wakeup.set()
        self.pending.append(judged)
        if len(self.pending) >= self.settings.batch_max_packets:
            self._wakeup.set()
            self._full = True  # read nothing more until the batch task takes a batch
            if len(self._paused) < len(self.connections):
                for other in self.connections:
                    self._pause(other)

    def _warn(self, reason: str, message: str, *args: object) -> None:
        """Log the first occurrence of a reason per summary period as a warning."""
        if reason not in self._warned:
            self._warned.add(reason)
            log.warning(message + " (further ones this minute: in the summary)", *args)

    def _reload_on_miss(self) -> None:
        now = time.monotonic()
        if now - self._last_miss_reload >= MISS_RELOAD_S:
            self._last_miss_reload = now
            asyncio.get_running_loop().create_task(self._reload_registry())

    async def _reload_registry(self) -> None:
        registry = await self._db(self.writer.load_registry)
        if registry is not None:
            self.registry = registry

    # --- batches -----------------------------------------------------------------------------

    async def _batches(self) -> None:
        """Hand pending packets to the writer, a batch at a time, forever."""
        batch_s = self.settings.batch_ms / 1000
        while True:
            if not self.pending:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            while not self._stopping and len(self.pending) < self.settings.batch_max_packets:
                wait = self._first_pending + batch_s - time.monotonic()
                if wait <= 0:
                    break
                self._wakeup.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), wait)
            result = await self._write_batch()
            if self._stopping and result.failed and not result.committed:
                log.error(
                    "stopping with %d packets not written (none acknowledged)", len(self.pending)
                )
                return
            if self.writer.backoff_s and not self._stopping:
                await asyncio.sleep(self.writer.backoff_s)

    async def _write_batch(self) -> BatchResult:
        """Write the oldest pending packets; acknowledge those committed."""
        size = self.settings.batch_max_packets
        batch, self.pending[:size] = self.pending[:size], []
        if self.pending:
            self._first_pending = time.monotonic()
        self._resume(size - len(self.pending))
        result = await self._db(self.writer.write, batch)
        counts, now = self.counts, time.time()
        for item in result.committed:
            if item.ack is not None:
                sent = item.reply_to.send(item.ack)  # type: ignore[union-attr]
                counts["acked" if sent else "acks_dropped"] += 1
                self.ack_ms.add((now - item.received) * 1000)
        self.batch_ms.add(result.seconds * 1000)
        for delay in result.event_delays_s:
            self.event_ms.add(delay * 1000)
        counts["batches"] += 1
        counts["committed"] += len(result.committed)
        counts["not_committed"] += result.failed
        counts["rows_stored"] += result.stored
        counts["rows_repeated"] += result.repeated
        counts["events_opened"] += result.opened
        counts["events_closed"] += result.closed
        return result

    def _pause(self, connection: DeviceConnection) -> None:
        if connection not in self._paused and connection.transport is not None:
            connection.transport.pause_reading()
            self._paused[connection] = None

    def _resume(self, room: int) -> None:
        """Read again from up to `room` paused connections, the longest paused first (so every
        connection takes its turn); from all of them, and no longer full, when they fit."""
        self._full = len(self._paused) > room
        while room > 0 and self._paused:
            connection = next(iter(self._paused))
            del self._paused[connection]
            if not connection.closed and connection.transport is not None:
                connection.last_frame = time.monotonic()
                connection.transport.resume_reading()
                room -= 1

    # --- housekeeping ------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """Idle connections, registry reloads, offline sweeps, retention, the summary line."""
        settings = self.settings
        tick = min(1.0, settings.idle_timeout_s / 4)
        due = {"registry": 0.0, "sweep": 0.0, "retention": 0.0, "summary": 0.0}
        started = time.monotonic()
        for key, every in (
            ("registry", settings.registry_reload_s),
            ("sweep", settings.offline_sweep_s),
            ("retention", RETENTION_S),
            ("summary", SUMMARY_S),
        ):
            due[key] = started + every
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            self._close_idle(now)
            if now >= due["registry"]:
                due["registry"] = now + settings.registry_reload_s
                await self._reload_registry()
            if now >= due["sweep"]:
                due["sweep"] = now + settings.offline_sweep_s
                summary = await self._db(self.writer.sweep_offline)
                if summary is not None:
                    self.counts["offline_opened"] += len(summary.opened)
            if now >= due["retention"]:
                due["retention"] = now + RETENTION_S
                await self._db(self.writer.apply_retention, settings.retention_months)
                self._earliest = retention_start(self.clock.now(), settings.retention_months)
            if now >= due["summary"]:
                due["summary"] = now + SUMMARY_S
                log.info("HJ 212 receiver: %s", self.summary())
                self._warned.clear()

    def _close_idle(self, now: float) -> None:
        limit = self.settings.idle_timeout_s
        for connection in [c for c in self.connections if now - c.last_frame > limit]:
            if connection not in self._paused:
                connection.close("idle_closed")

    def summary(self) -> str:
        """The counters as one line (`name=count`, sorted), with the open connections."""
        parts = [f"connections={len(self.connections)}", f"pending={len(self.pending)}"]
        parts += [f"{key}={value}" for key, value in sorted(self.counts.items())]
        parts += [self.ack_ms.describe("ack"), self.event_ms.describe("event")]
        parts.append(self.batch_ms.describe("batch"))
        return " ".join(parts)

"""A fleet of simulated HJ 212-2017 devices (`permitmap monitor simulate`), for load tests, the
benchmark and the end-to-end test.

Each device (`geo.monitoring.simulated`) opens one long-lived TCP connection and sends minute
data (CN 2051, Flag=5: HJ 212-2017, acknowledgement asked) with its eight factors, the data time
one minute further with each packet (the first at `start`). It waits for the 9014 with its
packet's QN before the next packet (or paces itself at `rate` packets/s); without an answer
within `ack_timeout_s` it re-sends the same packet, as devices do (§6.2), up to `retries` times,
reconnecting if the connection was closed; then the packet counts as lost. A device in `exceed`
sends, once, at a random moment in the middle 60 % of the run, an hourly packet (CN 2061) of the
hour before `start` whose permitted pollutants are far above any limit, and the wall-clock time
of that send is recorded (`exceedances`): an hourly average over the limit opens an exceedance
event at once (a minute value opens one only when its clock hour is complete).

The counts: `sent` (first sends), `resent`, `acked`, `rejected` (answered 9011: unknown MN or
wrong password; the device then waits a second), `lost` (never acknowledged, after the retries
or when the run ended, waiting at most `grace_s` for the last answers). `acked_in_window` counts
acknowledgements received within the run's `duration_s` (from the moment every device is
connected): the sustained rate.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from geo.clock import CHINA
from geo.hj212 import Cn, Cp, FrameError, FrameReader, Packet, crc16_hex, parse_frame
from geo.monitoring.simulated import SimulatedDevice, factor_fields

FLAG_2017_ACK = 5  # version 1 (2017), bit A
ST_WATER, ST_AIR = "32", "31"
CONNECT_CONCURRENCY = 200
REFUSED_PAUSE_S = 1.0  # a refused device waits before its next packet
TIMEOUT_TICK_S = 0.25  # how often packets past their acknowledgement timeout are given up


@dataclass(frozen=True)
class SimulationOptions:
    """How to drive the devices (see the module docstring)."""

    password: str
    start: datetime
    host: str = "127.0.0.1"
    port: int = 9212
    duration_s: float = 60.0
    rate: float = 0.0  # packets/s per device; 0: the next as soon as the last is acknowledged
    exceed: frozenset[str] = frozenset()
    ack_timeout_s: float = 10.0
    retries: int = 3
    grace_s: float = 30.0
    seed: int = 2025


@dataclass
class SimulationReport:
    """What the run did (see the module docstring); `acked_minutes` lists, per MN, the minute
    indices acknowledged (data time = start + index minutes), to check against the database."""

    devices: int
    connected: int = 0
    sent: int = 0
    resent: int = 0
    acked: int = 0
    acked_in_window: int = 0
    rejected: int = 0
    lost: int = 0
    seconds: float = 0.0
    ack_ms: list[float] = field(default_factory=list)
    acked_minutes: dict[str, list[int]] = field(default_factory=dict)
    exceedances: list[dict[str, Any]] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        """Acknowledged packets per second within the run."""
        return self.acked_in_window / self.seconds if self.seconds else 0.0

    def as_dict(self, *, details: bool = False) -> dict[str, Any]:
        """JSON form; `details` adds the acknowledged minutes and the exceedances sent."""
        ms = sorted(self.ack_ms)
        found: dict[str, Any] = {
            "devices": self.devices,
            "connected": self.connected,
            "sent": self.sent,
            "resent": self.resent,
            "acked": self.acked,
            "rejected": self.rejected,
            "lost": self.lost,
            "seconds": round(self.seconds, 2),
            "acked_per_s": round(self.per_s, 1),
            "ack_p50_ms": round(statistics.median(ms), 1) if ms else None,
            "ack_p99_ms": round(ms[int(len(ms) * 0.99)], 1) if ms else None,
        }
        if details:
            found |= {"acked_minutes": self.acked_minutes, "exceedances": self.exceedances}
        return found


def fast_frame(packet: Packet) -> bytes:
    """`build_frame(packet)` without its checks, for a simulator's well-formed packets (a test
    keeps the two equal): the canonical form, DataTime first, one `,`-joined group per code."""
    cp = packet.cp
    groups = ";".join(
        ",".join(f"{code}-{name}={value}" for name, value in fields.items())
        for code, fields in cp.pollutants.items()
    )
    data_time = f"DataTime={cp.data_time.astimezone(CHINA):%Y%m%d%H%M%S}" if cp.data_time else ""
    body = ";".join(part for part in (data_time, groups) if part)
    segment = (
        f"QN={packet.qn};ST={packet.st};CN={packet.cn};PW={packet.pw};MN={packet.mn};"
        f"Flag={packet.flag};CP=&&{body}&&"
    ).encode()
    return b"##%04d%s%s\r\n" % (len(segment), segment, crc16_hex(segment).encode("ascii"))


class _Link(asyncio.Protocol):
    """One device's connection: frames out; answers in, matched to the packet waiting by QN."""

    def __init__(self, options: SimulationOptions) -> None:
        self.options = options
        self.transport: asyncio.Transport | None = None
        self.framer = FrameReader()
        self.qn = ""
        self.answer: asyncio.Future[int | None] | None = None
        self.deadline = 0.0

    async def connect(self) -> None:
        """(Re)open the connection."""
        self.close()
        self.framer = FrameReader()
        await asyncio.get_running_loop().create_connection(
            lambda: self, self.options.host, self.options.port
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Resolve the waiting packet when its answer arrives (9014 or 9011)."""
        for item in self.framer.feed(data):
            if isinstance(item, FrameError):
                continue
            try:
                reply = parse_frame(item)
            except FrameError:
                continue
            if reply.qn == self.qn:
                self.settle(reply.cn)

    def connection_lost(self, exc: Exception | None) -> None:
        """The receiver closed the connection: the waiting packet has no answer."""
        self.transport = None
        self.settle(None)

    def settle(self, cn: int | None) -> None:
        """Give the waiting packet its answer (None: none came)."""
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(cn)

    def send(self, qn: str, frame: bytes, deadline: float) -> asyncio.Future[int | None]:
        """Write a frame; the future resolves to the answer's CN, or None at `deadline`."""
        self.qn, self.deadline = qn, deadline
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(frame)  # type: ignore[union-attr]
        return self.answer

    def close(self) -> None:
        """Close the connection."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class _Device:
    """One simulated device's run."""

    def __init__(
        self, device: SimulatedDevice, options: SimulationOptions, report: SimulationReport
    ) -> None:
        self.device = device
        self.options = options
        self.report = report
        self.link = _Link(options)
        self.rng = random.Random(f"{options.seed}:{device.mn}")
        self.last_qn_ms = 0

    def packet(self, cn: int, at: datetime, *, exceed: bool = False) -> Packet:
        """The next packet: QN from the clock (one millisecond later than the last at least)."""
        now_ms = max(int(time.time() * 1000), self.last_qn_ms + 1)
        self.last_qn_ms = now_ms
        moment = datetime.fromtimestamp(now_ms / 1000, CHINA)
        qn = moment.strftime("%Y%m%d%H%M%S") + f"{now_ms % 1000:03d}"
        return Packet(
            qn=qn,
            st=ST_WATER if self.device.medium == "water" else ST_AIR,
            cn=cn,
            pw=self.options.password,
            mn=self.device.mn,
            flag=FLAG_2017_ACK,
            cp=Cp(data_time=at, pollutants=factor_fields(self.device, self.rng, exceed=exceed)),
        )

    async def exchange(self, packet: Packet, stop_at: float) -> bool:
        """Send until acknowledged (True), refused, or out of retries and time (lost)."""
        loop, report, frame = asyncio.get_running_loop(), self.report, fast_frame(packet)
        first = loop.time()
        report.sent += 1
        for attempt in range(self.options.retries + 1):
            if self.link.transport is None:
                try:
                    await self.link.connect()
                except OSError:
                    await asyncio.sleep(1.0)
                    continue
            report.resent += attempt > 0
            deadline = min(loop.time() + self.options.ack_timeout_s, stop_at + self.options.grace_s)
            answer = await self.link.send(packet.qn, frame, deadline)
            if answer == Cn.DATA_REPLY:
                report.acked += 1
                report.acked_in_window += loop.time() <= stop_at
                report.ack_ms.append((loop.time() - first) * 1000)
                return True
            if answer == Cn.REQUEST_REPLY:
                report.rejected += 1
                await asyncio.sleep(REFUSED_PAUSE_S)
                return False
            if loop.time() >= stop_at + self.options.grace_s:
                break
        report.lost += 1
        return False

    async def run(self, stop_at: float) -> None:
        """Send until `stop_at` (loop time), the connection open already."""
        loop, options = asyncio.get_running_loop(), self.options
        began = loop.time()
        exceed_at = None
        if self.device.mn in options.exceed:
            exceed_at = began + options.duration_s * self.rng.uniform(0.2, 0.8)
        acked = self.report.acked_minutes.setdefault(self.device.mn, [])
        index = 0
        while loop.time() < stop_at:
            if exceed_at is not None and loop.time() >= exceed_at:
                exceed_at = None
                await self.exceedance(stop_at)
                continue
            at = options.start + timedelta(minutes=index)
            if await self.exchange(self.packet(Cn.MINUTE, at), stop_at):
                acked.append(index)
            index += 1
            if options.rate > 0:
                await asyncio.sleep(max(began + index / options.rate - loop.time(), 0))
        self.link.close()

    async def exceedance(self, stop_at: float) -> None:
        hour = self.options.start.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        packet = self.packet(Cn.HOUR, hour, exceed=True)
        sent_at = time.time()
        acked = await self.exchange(packet, stop_at)
        self.report.exceedances.append(
            {
                "mn": self.device.mn,
                "outlet_id": self.device.outlet_id,
                "data_time": hour.isoformat(),
                "sent_at": sent_at,
                "acked": acked,
            }
        )


async def simulate(devices: list[SimulatedDevice], options: SimulationOptions) -> SimulationReport:
    """Run the fleet: connect every device, then send for `duration_s` (see the module doc)."""
    report = SimulationReport(devices=len(devices))
    runners = [_Device(device, options, report) for device in devices]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(runner: _Device) -> bool:
        async with gate:
            try:
                await runner.link.connect()
            except OSError:
                return False
        report.connected += 1
        return True

    connected = await asyncio.gather(*(connect(runner) for runner in runners))
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + options.duration_s
    timeouts = asyncio.create_task(_time_out(runners))
    await asyncio.gather(
        *(runner.run(stop_at) for runner, ok in zip(runners, connected, strict=True) if ok)
    )
    timeouts.cancel()
    report.seconds = options.duration_s
    return report


async def _time_out(runners: list[_Device]) -> None:
    """Settle with None every packet waiting past its deadline (one timer for all devices)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(TIMEOUT_TICK_S)
        now = loop.time()
        for runner in runners:
            if runner.link.deadline <= now:
                runner.link.settle(None)

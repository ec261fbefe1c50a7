"""The HJ 212-2017 ingest path (real PostGIS): packets → readings, device authentication, the
batch writer (one transaction, acknowledged only once committed, repeats, a refused value, a
database that is down), the TCP receiver in-process on an ephemeral port (acks after commit, bad
input answered or dropped and counted, a stalled connection that delays nobody, idle
connections closed), the simulator end to end (an exceedance turns the outlet red within
seconds), and `permitmap monitor import`."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.monitor_receiver import Receiver
from api.monitor_simulator import SimulationOptions, fast_frame, simulate
from geo.clock import CHINA, FixedClock, SystemClock
from geo.db import make_engine
from geo.hj212 import Cn, Cp, FrameReader, Packet, QnRtn, build_frame, parse_frame
from geo.monitoring.devices import Device, password_digest, register_device
from geo.monitoring.ingest import Accepted, Reason, Rejection, accept, readings_of
from geo.monitoring.readings import ReadingRow
from geo.monitoring.simulated import (
    SimulatedDevice,
    factor_fields,
    register_simulated,
    simulated_devices,
)
from geo.monitoring.writer import BatchWriter, retention_start
from geo.settings import DatabaseSettings, MonitorSettings, Settings
from tests.factories import add_permit, add_region, add_unit, credit_code

PASSWORD = "pw-secret"
STAFF = {"Authorization": "Bearer dev-staff-token"}  # the development service token
COD, NH3N = "w01018", "w21003"
NOW = datetime.now(CHINA).replace(second=0, microsecond=0)
EARLIEST = retention_start(NOW, 36)
PERMITMAP = str(Path(sys.executable).parent / "permitmap")
DEVICES = 6  # one per test that writes through the receiver: tests never share an outlet


@dataclass(frozen=True)
class World:
    outlets: list[int]
    mns: list[str]


@pytest.fixture(scope="module")
def world(engine: Engine) -> World:
    """Committed (the receiver has its own connections): water outlets with COD (limit 50) and
    NH3-N (limit 5) permitted, each with a device `DEVn` / PASSWORD."""
    outlets, mns = [], []
    with Session(engine) as session, session.begin():
        add_region(session)
        unit = add_unit(session, credit_code(7))
        add_permit(session, unit, f"{credit_code(7)}001P")
        for n in range(1, DEVICES + 1):
            outlet = session.execute(
                text(
                    "INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)"
                    f" SELECT id, 'DW{n:03d}', 'water', 'main', geom, '长江' FROM units"
                    " WHERE id = :u RETURNING id"
                ),
                {"u": unit},
            ).scalar_one()
            session.execute(
                text(
                    "INSERT INTO outlet_pollutants (outlet_id, pollutant_code, pollutant_name,"
                    " concentration_limit, concentration_unit) VALUES"
                    " (:o, 'w01018', '化学需氧量', 50, 'mg/L'), (:o, 'w21003', '氨氮', 5, 'mg/L')"
                ),
                {"o": outlet},
            )
            register_device(session, mn=f"DEV{n}", outlet_id=outlet, password=PASSWORD)
            outlets.append(outlet)
            mns.append(f"DEV{n}")
    return World(outlets, mns)


def packet(
    mn: str,
    at: datetime,
    values: dict[str, dict[str, str]],
    *,
    cn: int = Cn.MINUTE,
    pw: str = PASSWORD,
    flag: int = 5,
    qn: str | None = None,
) -> Packet:
    stamp = qn or datetime.now(CHINA).strftime("%Y%m%d%H%M%S%f")[:17]
    return Packet(
        qn=stamp, st="32", cn=cn, pw=pw, mn=mn, flag=flag, cp=Cp(data_time=at, pollutants=values)
    )


def minute(value: float, code: str = COD) -> dict[str, dict[str, str]]:
    return {code: {"Avg": str(value), "Min": str(value - 1), "Max": str(value + 1), "Flag": "N"}}


def stored(engine: Engine, outlet: int, at: datetime | None = None) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM readings WHERE outlet_id = :o"
                " AND (CAST(:at AS timestamptz) IS NULL OR data_time = :at)"
            ),
            {"o": outlet, "at": at},
        ).scalar_one()


# --- packets → rows, authentication (no database) ---------------------------------------------


REGISTRY = {"M1": Device("M1", 11, password_digest("M1", PASSWORD), 60, 5)}


def test_a_minute_packet_becomes_rows_and_bad_groups_are_skipped() -> None:
    fields = {
        COD: {"Avg": "41.5", "Min": "40", "Max": "43", "Cou": "1.25", "Flag": "n"},
        NH3N: {"Avg": "2.1", "Flag": "N", "SampleTime": "20261120100000"},
        "011": {"Avg": "3"},  # an HJ/T 212-2005 code
        "w21011": {"Avg": "nan"},
        "w21001": {"Avg": "1_000"},
        "w00000": {"Avg": "12", "Flag": "NN"},
        "w01001": {"EFlag": "A01"},  # nothing stored here: no row, not counted
    }
    judged = accept(packet("M1", NOW, fields), REGISTRY, now=NOW, earliest=EARLIEST)
    assert isinstance(judged, Accepted) and judged.skipped == 4
    assert judged.rows == [
        ReadingRow(11, COD, 2051, NOW, 41.5, 40.0, 43.0, 1.25, "N"),
        ReadingRow(11, NH3N, 2051, NOW, 2.1, None, None, None, "N"),
    ]
    assert parse_frame(judged.ack).cn == Cn.DATA_REPLY  # type: ignore[arg-type]


def test_realtime_hourly_and_daily_values() -> None:
    realtime = packet("M1", NOW, {COD: {"Rtd": "30", "Avg": "99", "Flag": "N"}}, cn=Cn.REALTIME)
    assert readings_of(realtime, 11)[0] == [ReadingRow(11, COD, 2011, NOW, 30.0, flag="N")]
    for cn in (Cn.HOUR, Cn.DAY):
        daily = packet("M1", NOW, {COD: {"Avg": "30", "Cou": "2.5"}}, cn=cn)
        assert readings_of(daily, 11)[0] == [ReadingRow(11, COD, cn, NOW, 30.0, cou=2.5)]


def test_unknown_mn_and_wrong_password_are_refused_with_a_request_reply() -> None:
    for mn, pw, reason, code in (
        ("M2", PASSWORD, Reason.UNKNOWN_MN, QnRtn.MN_ERROR),
        ("M1", "wrong", Reason.WRONG_PASSWORD, QnRtn.PW_ERROR),
    ):
        judged = accept(packet(mn, NOW, minute(1), pw=pw), REGISTRY, now=NOW, earliest=EARLIEST)
        assert isinstance(judged, Rejection) and judged.reason == reason
        reply = parse_frame(judged.reply)  # type: ignore[arg-type]
        assert (reply.cn, reply.cp.items) == (Cn.REQUEST_REPLY, {"QnRtn": str(int(code))})
        quiet = packet(mn, NOW, minute(1), pw=pw, flag=4)  # no reply asked: none sent
        assert accept(quiet, REGISTRY, now=NOW, earliest=EARLIEST) == Rejection(reason)


def test_other_commands_and_times_outside_the_stored_range() -> None:
    def judge(p: Packet) -> Accepted | Rejection:
        return accept(p, REGISTRY, now=NOW, earliest=EARLIEST)

    restart = judge(packet("M1", NOW, {}, cn=Cn.RESTART_TIME))
    assert restart.reason == Reason.IGNORED and parse_frame(restart.reply).cn == Cn.DATA_REPLY  # type: ignore[union-attr, arg-type]
    assert judge(packet("M1", NOW, {}, cn=Cn.DATA_REPLY)) == Rejection(Reason.IGNORED)
    no_time = packet("M1", NOW, minute(1))
    no_time = Packet(**{**no_time.__dict__, "cp": Cp(pollutants=minute(1))})
    assert judge(no_time) == Rejection(Reason.NO_DATA_TIME)
    for at in (EARLIEST - timedelta(seconds=1), NOW + timedelta(days=1, minutes=1)):
        assert judge(packet("M1", at, minute(1))) == Rejection(Reason.IMPLAUSIBLE_TIME)


def test_the_simulators_frames_are_the_canonical_ones() -> None:
    device = SimulatedDevice("SIM000000000000000000001", 1, "air")
    rng = random.Random(3)
    for cn, exceed in ((Cn.MINUTE, False), (Cn.HOUR, True)):
        sent = packet(device.mn, NOW, factor_fields(device, rng, exceed=exceed), cn=cn)
        assert fast_frame(sent) == build_frame(sent)
        assert parse_frame(fast_frame(sent)) == sent


def test_retention_start_is_the_first_of_a_month_in_china() -> None:
    now = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)  # 2026-02-01 01:00 in China
    assert retention_start(now, 36) == datetime(2023, 2, 1, tzinfo=CHINA)
    assert retention_start(now, 1) == datetime(2026, 1, 1, tzinfo=CHINA)


# --- the batch writer ---------------------------------------------------------------------------


def accepted(world: World, index: int, at: datetime, value: float) -> Accepted:
    judged = accept(
        packet(world.mns[index], at, minute(value)),
        {d.mn: d for d in devices_of(world)},
        now=NOW,
        earliest=EARLIEST,
    )
    assert isinstance(judged, Accepted)
    return judged


def devices_of(world: World) -> list[Device]:
    return [
        Device(mn, o, password_digest(mn, PASSWORD), 60, 5)
        for mn, o in zip(world.mns, world.outlets, strict=True)
    ]


def test_the_writer_commits_a_batch_and_drops_repeats(engine, world) -> None:
    writer = BatchWriter(engine, clock=FixedClock(NOW))
    batch = [accepted(world, 0, NOW - timedelta(minutes=m), 20 + m) for m in range(3)]
    result = writer.write(batch)
    assert (len(result.committed), result.stored, result.repeated, result.failed) == (3, 3, 0, 0)
    assert stored(engine, world.outlets[0]) == 3
    again = writer.write(batch[:1])  # a re-sent packet: acknowledged again, stored once
    assert (len(again.committed), again.stored, again.repeated) == (1, 0, 1)
    with engine.connect() as conn:
        seen = conn.execute(
            text("SELECT last_seen FROM monitoring_devices WHERE mn = :mn"), {"mn": world.mns[0]}
        ).scalar_one()
    assert seen == NOW


def test_a_value_the_database_refuses_holds_back_only_its_packet(engine, world) -> None:
    writer = BatchWriter(engine, clock=FixedClock(NOW))
    good = [accepted(world, 1, NOW - timedelta(minutes=m), 30) for m in (10, 11, 12)]
    poison = accepted(world, 1, NOW - timedelta(minutes=13), 30)
    poison.rows = [ReadingRow(world.outlets[1], COD, 99_999, NOW, 1.0)]  # smallint overflow
    result = writer.write([good[0], poison, *good[1:]])
    assert result.committed == [good[0], *good[1:]] and result.failed == 1
    assert writer.failures == 0 and writer.backoff_s == 0


def test_a_database_that_is_down_fails_the_batch_without_raising(world) -> None:
    down = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    writer = BatchWriter(down, clock=FixedClock(NOW))
    result = writer.write([accepted(world, 1, NOW, 1)])
    assert (result.committed, result.failed) == ([], 1)
    assert writer.backoff_s == 0.5 and writer.load_registry() is None
    writer.write([accepted(world, 1, NOW, 1)])
    assert writer.backoff_s == 1.0
    down.dispose()


# --- the TCP receiver ---------------------------------------------------------------------------


@asynccontextmanager
async def receiving(engine: Engine, **settings: object) -> AsyncIterator[Receiver]:
    options = {"port": 0, "batch_ms": 20, "max_data_bytes": 1024, **settings}
    clock = SystemClock()
    receiver = Receiver(MonitorSettings(**options), BatchWriter(engine, clock=clock), clock=clock)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


class Client:
    """A device's side of a connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.framer = reader, writer, FrameReader()

    @classmethod
    async def connect(cls, receiver: Receiver) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", receiver.port))

    async def reply(self, timeout: float = 2.0) -> Packet | None:
        """The next reply frame, None when none comes within `timeout` or the line closed."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    data = await self.reader.read(4096)
                    if not data:
                        return None
                    frames = [f for f in self.framer.feed(data) if isinstance(f, bytes)]
                    if frames:
                        return parse_frame(frames[0])
        except TimeoutError:
            return None

    def send(self, data: bytes) -> None:
        self.writer.write(data)


def test_an_ack_arrives_only_once_the_rows_are_committed(engine, world) -> None:
    async def scenario() -> None:
        async with receiving(engine, batch_ms=150) as receiver:
            client = await Client.connect(receiver)
            for m in range(3):
                at = NOW - timedelta(minutes=20 + m)
                sent = packet(world.mns[2], at, minute(25))
                client.send(build_frame(sent))
                reply = await client.reply()
                assert reply is not None and (reply.cn, reply.qn) == (Cn.DATA_REPLY, sent.qn)
                assert stored(engine, world.outlets[2], at) == 1  # committed before the ack
            assert receiver.counts["acked"] == 3

    asyncio.run(scenario())


def test_bad_input_is_answered_or_dropped_and_counted(engine, world) -> None:
    mn = world.mns[3]

    async def scenario() -> None:
        async with receiving(engine) as receiver:
            client = await Client.connect(receiver)
            good = build_frame(packet(mn, NOW - timedelta(minutes=30), minute(20)))
            bad_crc = good[:-6] + (b"0000" if good[-6:-2] != b"0000" else b"1111") + b"\r\n"
            wrong_length = b"##9000" + good[6:]  # declares more than the limit: dropped
            short_length = b"##0010" + good[6:]
            client.send(bad_crc + b"garbage\x00\xff" + wrong_length + short_length)
            client.send(b"##0100" + b"x" * 2000)  # oversized: no CR LF within the limit
            unknown = packet("NOBODY", NOW, minute(1))
            client.send(build_frame(unknown))
            reply = await client.reply()
            assert reply is not None and reply.cp.items == {"QnRtn": "4"} and reply.qn == unknown.qn
            client.send(build_frame(packet(mn, NOW, minute(1), pw="guess")))
            reply = await client.reply()
            assert reply is not None and reply.cp.items == {"QnRtn": "3"}
            client.send(good)  # the connection still works
            reply = await client.reply()
            assert reply is not None and reply.cn == Cn.DATA_REPLY
            counts = receiver.counts
            assert counts["crc"] == 1 and counts["garbage"] >= 1 and counts["oversize"] >= 2
            assert counts["length"] == 1
            assert counts["unknown_mn"] == 1 and counts["wrong_password"] == 1
            assert counts["committed"] == 1 and counts["acked"] == 1

    asyncio.run(scenario())
    assert stored(engine, world.outlets[3]) == 1


def test_a_stalled_connection_delays_no_other_device_and_is_closed(engine, world) -> None:
    async def scenario() -> None:
        async with receiving(engine, idle_timeout_s=1.0) as receiver:
            stalled = await Client.connect(receiver)
            stalled.send(build_frame(packet(world.mns[4], NOW, minute(1)))[:40])  # half a frame
            silent = await Client.connect(receiver)  # half-open: never sends
            good = await Client.connect(receiver)
            delays = []
            for m in range(5):
                started = time.perf_counter()
                good.send(
                    build_frame(packet(world.mns[4], NOW - timedelta(minutes=40 + m), minute(9)))
                )
                reply = await good.reply()
                assert reply is not None and reply.cn == Cn.DATA_REPLY
                delays.append(time.perf_counter() - started)
                await asyncio.sleep(0.3)  # keeps `good` alive past the idle timeout
            assert max(delays) < 0.5
            assert await stalled.reply(timeout=2) is None and await silent.reply(timeout=1) is None
            assert receiver.counts["idle_closed"] == 2 and len(receiver.connections) == 1

    asyncio.run(scenario())


def test_a_repeated_packet_is_acknowledged_twice_and_stored_once(engine, world) -> None:
    async def scenario() -> None:
        async with receiving(engine) as receiver:
            client = await Client.connect(receiver)
            frame = build_frame(packet(world.mns[4], NOW - timedelta(minutes=50), minute(8)))
            for _ in range(2):
                client.send(frame)
                assert (await client.reply()).cn == Cn.DATA_REPLY  # type: ignore[union-attr]
            assert receiver.counts["rows_repeated"] == 1

    asyncio.run(scenario())
    assert stored(engine, world.outlets[4], NOW - timedelta(minutes=50)) == 1


def test_a_newly_registered_device_is_accepted_without_a_restart(engine, world) -> None:
    async def scenario() -> None:
        async with receiving(engine) as receiver:
            with Session(engine) as session, session.begin():  # after the registry was loaded
                register_device(session, mn="LATE1", outlet_id=world.outlets[5], password=PASSWORD)
            client = await Client.connect(receiver)
            late = build_frame(packet("LATE1", NOW - timedelta(minutes=55), minute(5)))
            client.send(late)
            assert (await client.reply()).cp.items == {"QnRtn": "4"}  # type: ignore[union-attr]
            await asyncio.sleep(0.3)  # the miss reloads the registry (at most every 5 s)
            client.send(late)  # the device re-sends
            assert (await client.reply()).cn == Cn.DATA_REPLY  # type: ignore[union-attr]

    asyncio.run(scenario())


# --- end to end: the simulator ------------------------------------------------------------------


def test_a_simulated_exceedance_turns_the_outlet_red_within_seconds(db_url, engine, world) -> None:
    """A simulated device sends minute data and an exceedance; the map API (the outlets layer's
    item, staff view) shows the outlet's live status as exceedance within seconds."""
    with Session(engine) as session, session.begin():
        register_simulated(session, count=1, password="sim-pw")
        (device,) = simulated_devices(session, count=1)
    assert device.outlet_id == world.outlets[0] and device.medium == "water"
    app = create_app(Settings(database=DatabaseSettings(database_url=db_url, db_warm_pool=False)))
    item = f"/ogc/collections/outlets/items/{device.outlet_id}"

    async def scenario(client: TestClient) -> tuple[float, int]:
        async with receiving(engine, batch_ms=50) as receiver:
            options = SimulationOptions(
                password="sim-pw",
                start=NOW + timedelta(hours=2),
                port=receiver.port,
                duration_s=2.0,
                exceed=frozenset({device.mn}),
                grace_s=5,
            )
            report = await simulate([device], options)
            (sent,) = report.exceedances
            assert sent["acked"] and report.lost == 0 and report.acked >= 2
            for _ in range(50):
                found = await asyncio.to_thread(client.get, item, headers=STAFF)
                status = found.json()["properties"]["live_status"]
                if status == "exceedance":
                    return time.time() - sent["sent_at"], report.acked
                await asyncio.sleep(0.1)
            raise AssertionError(f"the outlet's live status stayed {status}")

    with TestClient(app) as client:
        assert client.get(item, headers=STAFF).json()["properties"]["live_status"] == "normal"
        seconds, acked = asyncio.run(scenario(client))
    assert seconds < 3
    assert stored(engine, device.outlet_id) >= 8 * acked


# --- permitmap monitor import -------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield


def test_import_a_csv_of_readings_then_again(cli_env, engine, world, tmp_path: Path) -> None:
    at = (NOW - timedelta(days=3)).replace(minute=0)
    lines = ["MN,污染物代码,数据时间,数值,数据类型,标记"]
    lines += [
        f"{world.mns[5]},{COD},{at + timedelta(hours=h):%Y-%m-%d %H:%M},{v},小时,N"
        for h, v in enumerate((40, 80, 45))
    ]
    lines.append(f"{world.mns[5]},{NH3N},{at:%Y%m%d%H%M%S},2.5,日,")
    file = tmp_path / "readings.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = CliRunner().invoke(app, ["monitor", "import", str(file)])
    assert done.exit_code == 0, done.output
    assert "stored 4 readings, 0 stored before" in done.output
    assert "checks: 1 events opened, 1 closed" in done.output
    again = CliRunner().invoke(app, ["monitor", "import", str(file)])
    assert "stored 0 readings, 4 stored before" in again.output


def test_import_refuses_a_file_with_bad_rows_and_writes_nothing(
    cli_env, engine, world, tmp_path
) -> None:
    file = tmp_path / "bad.csv"
    file.write_text(
        "排放口ID,污染物代码,数据时间,数值,数据类型,标记\n"
        f"{world.outlets[5]},011,2026-11-20 10:00,1,小时,N\n"
        f"{world.outlets[5]},{COD},yesterday,1,小时,N\n"
        f"{world.outlets[5]},{COD},2026-11-20 10:00,abc,周,NN\n"
        f"999999,{COD},2026-11-20 11:00,1,小时,N\n"
        f"{world.outlets[5]},{COD},1990-01-01 00:00,1,小时,N\n",
        encoding="utf-8",
    )
    before = stored(engine, world.outlets[5])
    done = CliRunner().invoke(app, ["monitor", "import", str(file)])
    assert done.exit_code == 1
    for fragment in (
        "row 2, 污染物代码 = '011': not an HJ 212-2017 factor code",
        "row 3, 数据时间 = 'yesterday': not a date and time",
        "row 4, 数值 = 'abc': not a number",
        "row 4, 数据类型 = '周': not one of",
        "row 4, 标记 = 'NN': a data flag is one letter",
        "row 5, 排放口ID = '999999': no outlet has this id",
        "row 6, 数据时间 = '1990-01-01 00:00': outside the stored range",
        "nothing imported",
    ):
        assert fragment in done.output, done.output
    assert stored(engine, world.outlets[5]) == before


def test_serve_on_a_busy_port_is_one_line_error(db_url) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERMITMAP_")}
        done = subprocess.run(
            [PERMITMAP, "monitor", "serve", "--port", str(port)],
            env={**env, "DATABASE_URL": db_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"permitmap: the receiver cannot listen on 127.0.0.1:{port}")

"""Checks of readings (real PostGIS): known series fed through `store_readings` + `run_checks`,
and the events they open and close — exceedances (hourly, from minute data, daily, annual
quantity), special-period limits, every abnormal-data rule, the event lifecycle, repeated
packets, and the offline sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.clock import CHINA
from geo.monitoring.abnormal import FLAG_NAMES
from geo.monitoring.checks import CheckSummary, run_checks, sweep_offline
from geo.monitoring.devices import register_device, touch_devices
from geo.monitoring.limits import effective_limit
from geo.monitoring.readings import ReadingRow, known_months, store_readings
from tests.factories import COUNTY, add_permit, add_region, add_unit, credit_code

DAY = datetime(2026, 11, 20, tzinfo=CHINA)  # midnight in China
NOW = DAY + timedelta(days=4)
COD, NH3N, SO2 = "w01018", "w21003", "a21026"  # SO2 is not permitted at the outlet
HOUR, MINUTE, DAILY, REALTIME = 2061, 2051, 2031, 2011


@dataclass
class World:
    unit: int
    outlet: int


@pytest.fixture
def world(session: Session) -> World:
    """A unit with one water outlet: COD limit 50 (special 30, annual 1 t), NH3-N limit 5."""
    add_region(session)
    unit = add_unit(session, credit_code(1))
    add_permit(session, unit, f"{credit_code(1)}001P")
    outlet = session.execute(
        text("""
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        SELECT id, 'DW001', 'water', 'main', geom, '长江' FROM units WHERE id = :u RETURNING id
    """),
        {"u": unit},
    ).scalar_one()
    session.execute(
        text("""
        INSERT INTO outlet_pollutants (outlet_id, pollutant_code, pollutant_name,
               concentration_limit, concentration_unit, annual_limit_t, special_limit)
        VALUES (:o, 'w01018', '化学需氧量', 50, 'mg/L', 1.0, 30),
               (:o, 'w21003', '氨氮', 5, 'mg/L', NULL, NULL)
    """),
        {"o": outlet},
    )
    return World(unit, outlet)


def row(world: World, cn: int, at: datetime, value: float | None, **extra: object) -> ReadingRow:
    code = extra.pop("code", COD)
    return ReadingRow(world.outlet, str(code), cn, at, value, **extra)  # type: ignore[arg-type]


def feed(session: Session, rows: list[ReadingRow], now: datetime = NOW) -> CheckSummary:
    store_readings(session, rows, known_months(session))
    return run_checks(session, now=now)


def events(session: Session, rule: str | None = None) -> list[dict]:
    found = session.execute(
        text("""
        SELECT id, kind, rule, pollutant_code, started_at, ended_at, peak_value, peak_at,
               limit_value, detail, mn FROM monitoring_events
        WHERE CAST(:rule AS text) IS NULL OR rule = :rule ORDER BY started_at, id
    """),
        {"rule": rule},
    ).mappings()
    return [dict(r) for r in found]


def hours(n: int) -> datetime:
    return DAY + timedelta(hours=n)


# --- exceedance ---------------------------------------------------------------------------------


def test_hourly_averages_open_raise_and_close_an_event(session, world) -> None:
    assert feed(session, [row(world, HOUR, hours(0), 40)]) == CheckSummary()
    opened = feed(session, [row(world, HOUR, hours(1), 60)])
    assert len(opened.opened) == 1 and not opened.closed
    assert feed(session, [row(world, HOUR, hours(2), 70)]) == CheckSummary()
    (event,) = events(session, "hourly_average")
    assert (event["kind"], event["started_at"], event["ended_at"]) == ("exceedance", hours(1), None)
    assert (event["peak_value"], event["peak_at"], event["limit_value"]) == (70, hours(2), 50)
    closing = feed(session, [row(world, HOUR, hours(3), 45)])
    assert closing.closed == opened.opened and not closing.opened
    (event,) = events(session, "hourly_average")
    assert event["ended_at"] == hours(3)


def test_a_backlog_in_one_batch_gives_the_same_events(session, world) -> None:
    values = [40, 60, 70, 45, 55, 65]  # two runs: 1–3 closed, 4– open
    summary = feed(session, [row(world, HOUR, hours(i), v) for i, v in enumerate(values)])
    found = events(session, "hourly_average")
    assert [(e["started_at"], e["ended_at"], e["peak_value"]) for e in found] == [
        (hours(1), hours(3), 70),
        (hours(4), None, 65),
    ]
    assert sorted(summary.opened) == [e["id"] for e in found]
    assert summary.closed == [found[0]["id"]]


def test_late_values_neither_close_early_nor_reopen(session, world) -> None:
    feed(session, [row(world, HOUR, hours(5), 60)])
    feed(session, [row(world, HOUR, hours(4), 20)])  # an earlier good hour arriving late
    assert events(session)[0]["ended_at"] is None
    feed(session, [row(world, HOUR, hours(3), 80)])  # an earlier bad hour: the start moves back
    (event,) = events(session)
    assert (event["started_at"], event["peak_value"], event["peak_at"]) == (hours(3), 80, hours(3))
    feed(session, [row(world, HOUR, hours(6), 20)])
    feed(session, [row(world, HOUR, hours(4) + timedelta(minutes=30), 90)])
    assert len(events(session)) == 1  # inside the closed event: recorded already


def minutes(world: World, hour: datetime, values: list[float], **extra: object) -> list:
    return [
        row(world, MINUTE, hour + timedelta(minutes=i), v, **extra) for i, v in enumerate(values)
    ]


def wobble(mean: float, n: int) -> list[float]:
    """n values around `mean` (never constant)."""
    return [mean + (0.5 if i % 2 else -0.5) for i in range(n)]


def test_minute_data_make_an_hour_once_it_is_complete(session, world) -> None:
    start = hours(1)
    live = start + timedelta(minutes=59, seconds=30)
    values = wobble(55.0, 59)
    assert feed(session, minutes(world, start, values), now=live) == CheckSummary()
    assert events(session, "hourly_average") == []
    last = feed(session, [row(world, MINUTE, start + timedelta(minutes=59), 61.0)], now=live)
    (event,) = events(session)
    assert last.opened == [event["id"]] and event["rule"] == "hourly_average"
    assert (event["started_at"], event["limit_value"]) == (start, 50)
    assert event["peak_value"] == pytest.approx((sum(values) + 61) / 60)
    assert "from minute data" in event["detail"]
    # the next hour, complete under the limit, closes it
    feed(session, minutes(world, hours(2), wobble(20.0, 60)), now=hours(3))
    assert events(session, "hourly_average")[0]["ended_at"] == hours(2)


def test_an_hour_needs_45_minutes_of_normal_values(session, world) -> None:
    values = minutes(world, hours(1), wobble(80.0, 44)) + [
        row(world, MINUTE, hours(1) + timedelta(minutes=44 + i), 80.0, flag="M") for i in range(16)
    ]
    feed(session, values, now=hours(3))
    assert events(session, "hourly_average") == []
    assert len(events(session, "device_flag")) == 1
    feed(session, minutes(world, hours(2), wobble(80.0, 45)), now=hours(3))  # an hour over: judged
    (event,) = events(session, "hourly_average")
    assert event["started_at"] == hours(2)


def test_the_next_hours_first_minute_judges_an_hour_without_its_last(session, world) -> None:
    live = hours(2) + timedelta(seconds=20)
    feed(session, minutes(world, hours(1), wobble(70.0, 50)), now=hours(1) + timedelta(minutes=55))
    assert events(session, "hourly_average") == []
    feed(session, [row(world, MINUTE, hours(2), 10.0)], now=live)
    assert [e["started_at"] for e in events(session, "hourly_average")] == [hours(1)]


def test_daily_averages(session, world) -> None:
    feed(session, [row(world, DAILY, DAY, 49.0), row(world, DAILY, DAY + timedelta(days=1), 51.0)])
    (event,) = events(session, "daily_average")
    assert (event["started_at"], event["peak_value"], event["ended_at"]) == (
        DAY + timedelta(days=1), 51.0, None
    )  # fmt: skip


def test_annual_quantity_in_tonnes(session, world) -> None:
    days = [DAY - timedelta(days=i) for i in (3, 2, 1)]
    feed(session, [row(world, DAILY, d, 20.0, cou=400.0) for d in days[:2]])  # 0.8 t
    assert events(session, "annual_quantity") == []
    feed(session, [row(world, DAILY, days[2], 20.0, cou=400.0)])  # 1.2 t > 1 t
    (event,) = events(session, "annual_quantity")
    assert (event["started_at"], event["limit_value"]) == (days[2], 1.0)
    assert event["peak_value"] == pytest.approx(1.2)
    new_year = datetime(2027, 1, 1, tzinfo=CHINA)
    feed(session, [row(world, DAILY, new_year, 20.0, cou=400.0)], now=new_year)
    assert events(session, "annual_quantity")[0]["ended_at"] == new_year


def test_repeated_packets_count_once(session, world) -> None:
    day = [row(world, DAILY, DAY, 20.0, cou=600.0)]
    feed(session, day)
    assert feed(session, day) == CheckSummary()  # the same day again: not summed twice
    assert events(session, "annual_quantity") == []
    bad = [row(world, HOUR, hours(1), 90.0)]
    first = feed(session, bad)
    assert feed(session, bad) == CheckSummary() and len(first.opened) == 1
    assert len(events(session, "hourly_average")) == 1


def test_unpermitted_pollutants_are_not_checked_against_limits(session, world) -> None:
    feed(session, [row(world, HOUR, hours(1), 5000.0, code=SO2)])
    assert events(session) == []
    feed(session, [row(world, HOUR, hours(2), 0.0, code=SO2)])
    assert [e["rule"] for e in events(session)] == ["zero_or_negative"]


def test_flagged_values_are_not_judged_against_limits(session, world) -> None:
    feed(session, [row(world, HOUR, hours(1), 500.0, flag="C")])
    assert [e["rule"] for e in events(session)] == ["device_flag"]


# --- special periods ----------------------------------------------------------------------------


def declare(session, county: str | None, starts: date, ends: date) -> None:
    session.execute(
        text("""
        INSERT INTO special_periods (name, county_code, starts_on, ends_on, created_by)
        VALUES ('重污染天气橙色预警', :county, :s, :e, 'tester')
    """),
        {"county": county, "s": starts, "e": ends},
    )


@pytest.mark.parametrize("county", [COUNTY, None], ids=["county", "province"])
def test_a_special_period_in_force_applies_the_special_limit(session, world, county) -> None:
    declare(session, county, DAY.date(), DAY.date() + timedelta(days=1))
    feed(session, [row(world, HOUR, hours(1), 40.0), row(world, HOUR, hours(1), 4.0, code=NH3N)])
    (event,) = events(session)  # COD 40 > special 30; NH3-N has no special limit: 4 ≤ 5
    assert (event["pollutant_code"], event["limit_value"]) == (COD, 30)
    assert "special-period limit" in event["detail"]
    assert effective_limit(session, outlet_id=world.outlet, pollutant_code=COD, on=DAY.date()) == 30


def test_special_limits_apply_only_in_the_period_and_county(session, world) -> None:
    session.execute(
        text("INSERT INTO admin_regions (code, name, level, parent_code, geom)"
             " SELECT '500117', '合川区', 'county', '500000', geom FROM admin_regions"
             " WHERE code = :c"),
        {"c": COUNTY},
    )  # fmt: skip
    declare(session, "500117", DAY.date(), DAY.date())  # another county
    declare(session, None, DAY.date() + timedelta(days=1), DAY.date() + timedelta(days=2))
    feed(session, [row(world, HOUR, hours(1), 40.0)])  # the day before the provincial period
    assert events(session) == []
    feed(session, [row(world, HOUR, hours(24), 40.0)])  # its first day (China date)
    assert [e["limit_value"] for e in events(session)] == [30]
    assert effective_limit(session, outlet_id=world.outlet, pollutant_code=COD, on=DAY.date()) == 50
    assert (
        effective_limit(session, outlet_id=world.outlet, pollutant_code=SO2, on=DAY.date()) is None
    )


def test_a_pollutant_without_a_special_limit_keeps_its_limit(session, world) -> None:
    declare(session, None, DAY.date(), DAY.date())
    feed(session, [row(world, HOUR, hours(1), 4.0, code=NH3N)])
    assert events(session) == []
    feed(session, [row(world, HOUR, hours(2), 6.0, code=NH3N)])
    assert [(e["pollutant_code"], e["limit_value"]) for e in events(session)] == [(NH3N, 5)]


# --- abnormal data ------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", [*sorted(FLAG_NAMES), "X"])
def test_every_flag_but_n_is_abnormal(session, world, flag: str) -> None:
    feed(session, [row(world, REALTIME, hours(1), 20.0, flag=flag)])
    (event,) = events(session, "device_flag")
    assert event["kind"] == "abnormal" and event["detail"].startswith(f"flag {flag}")
    feed(session, [row(world, REALTIME, hours(1) + timedelta(seconds=30), 20.0, flag="N")])
    assert events(session, "device_flag")[0]["ended_at"] == hours(1) + timedelta(seconds=30)


def test_flags_of_one_event_are_all_listed(session, world) -> None:
    feed(session, [row(world, REALTIME, hours(1), 20.0, flag="M")])
    feed(session, [row(world, REALTIME, hours(2), 20.0, flag="D")])
    (event,) = events(session, "device_flag")
    assert event["detail"] == "flag D 故障 fault; flag M 维护 maintenance"


def test_zero_or_negative_values(session, world) -> None:
    t = [hours(1) + timedelta(minutes=i) for i in range(5)]
    feed(session, [row(world, MINUTE, t[0], 0.0), row(world, MINUTE, t[1], -2.0)])
    feed(session, [row(world, MINUTE, t[2], -1.0)])
    (event,) = events(session, "zero_or_negative")
    assert (event["started_at"], event["peak_value"], event["peak_at"]) == (t[0], -2.0, t[1])
    feed(session, [row(world, MINUTE, t[3], 12.0)])
    assert events(session, "zero_or_negative")[0]["ended_at"] == t[3]
    feed(session, [row(world, MINUTE, t[4], 0.0, flag="F")])  # stopped: a flag, not a zero
    assert len(events(session, "zero_or_negative")) == 1


def test_a_range_reaching_below_zero_exempts_from_the_zero_rule(session, world) -> None:
    session.execute(
        text("INSERT INTO monitoring_thresholds (pollutant_code, range_min) VALUES ('w01010', -5)")
    )
    feed(session, [row(world, REALTIME, hours(1), -1.0, code="w01010")])
    assert events(session) == []
    feed(session, [row(world, REALTIME, hours(2), -7.0, code="w01010")])
    assert [(e["rule"], e["limit_value"]) for e in events(session)] == [("out_of_range", -5)]


def test_values_outside_the_instrument_range(session, world) -> None:
    session.execute(
        text("INSERT INTO monitoring_thresholds (pollutant_code, range_min, range_max)"
             " VALUES ('w01018', 1, 100)")
    )  # fmt: skip
    feed(session, [row(world, REALTIME, hours(1), 150.0), row(world, REALTIME, hours(2), 400.0)])
    feed(session, [row(world, REALTIME, hours(3), 50.0), row(world, REALTIME, hours(4), 0.5)])
    found = events(session, "out_of_range")
    assert [(e["started_at"], e["ended_at"], e["peak_value"], e["limit_value"]) for e in found] == [
        (hours(1), hours(3), 400.0, 100),
        (hours(4), None, 0.5, 1),
    ]
    assert found[0]["detail"] == "range 1 to 100"


def test_a_constant_value_for_n_intervals(session, world) -> None:
    t = [hours(1) + timedelta(minutes=i) for i in range(14)]
    feed(session, [row(world, MINUTE, t[i], 7.25) for i in range(9)])
    feed(session, [row(world, REALTIME, t[9], 7.25)])  # another command does not count
    assert events(session, "constant") == []
    feed(session, [row(world, MINUTE, t[10], 7.25)])  # the 10th minute value
    (event,) = events(session, "constant")
    assert (event["started_at"], event["peak_value"], event["detail"]) == (
        t[10], 7.25, "10 identical values"
    )  # fmt: skip
    feed(session, [row(world, MINUTE, t[11], 7.5)])
    assert events(session, "constant")[0]["ended_at"] == t[11]


def test_the_constant_run_length_is_configurable(session, world) -> None:
    session.execute(
        text("INSERT INTO monitoring_thresholds (pollutant_code, constant_intervals)"
             " VALUES ('w01018', 3)")
    )  # fmt: skip
    t = [hours(1) + timedelta(minutes=i) for i in range(4)]
    feed(session, [row(world, MINUTE, t[0], 3.0), row(world, MINUTE, t[1], 3.0)])
    assert events(session, "constant") == []
    feed(session, [row(world, MINUTE, t[2], 3.0), row(world, MINUTE, t[3], 3.0)])
    (event,) = events(session, "constant")
    assert (event["started_at"], event["ended_at"]) == (t[2], None)


def test_a_gap_breaks_a_constant_run(session, world) -> None:
    session.execute(
        text("INSERT INTO monitoring_thresholds (pollutant_code, constant_intervals)"
             " VALUES ('w01018', 3)")
    )  # fmt: skip
    feed(session, [row(world, MINUTE, hours(1), 3.0), row(world, MINUTE, hours(2), 3.0)])
    feed(session, [row(world, MINUTE, hours(6), 3.0)])  # 4 h later: beyond 3 × 1 h
    assert events(session, "constant") == []


# --- offline ------------------------------------------------------------------------------------


def test_the_offline_sweep_opens_and_data_close(session, world) -> None:
    register_device(session, mn="MN0001", outlet_id=world.outlet, password="pw", interval_s=60)
    registered = NOW - timedelta(minutes=4)
    session.execute(text("UPDATE monitoring_devices SET registered_at = :t"), {"t": registered})
    assert sweep_offline(session, now=NOW) == CheckSummary()  # 4 of 5 intervals: not yet
    later = registered + timedelta(minutes=6)
    opened = sweep_offline(session, now=later)
    (event,) = events(session, "missing")
    assert opened.opened == [event["id"]] and event["kind"] == "offline"
    assert (event["started_at"], event["mn"]) == (registered + timedelta(minutes=1), "MN0001")
    assert sweep_offline(session, now=later + timedelta(minutes=1)) == CheckSummary()
    back = later + timedelta(minutes=2)
    assert touch_devices(session, ["MN0001"], back) == [event["id"]]
    assert events(session, "missing")[0]["ended_at"] == back
    assert sweep_offline(session, now=back + timedelta(minutes=1)) == CheckSummary()
    silent_again = sweep_offline(session, now=back + timedelta(minutes=6))
    assert len(silent_again.opened) == 1
    assert events(session, "missing")[1]["started_at"] == back + timedelta(minutes=1)


def test_the_sweep_closes_what_touching_did_not(session, world) -> None:
    register_device(session, mn="MN0002", outlet_id=world.outlet, password="pw")
    session.execute(
        text("UPDATE monitoring_devices SET registered_at = :t"), {"t": NOW - timedelta(hours=1)}
    )
    (event_id,) = sweep_offline(session, now=NOW).opened
    session.execute(text("UPDATE monitoring_devices SET last_seen = :t"), {"t": NOW})
    assert sweep_offline(session, now=NOW + timedelta(seconds=30)).closed == [event_id]
    assert events(session, "missing")[0]["ended_at"] == NOW
    session.execute(text("UPDATE monitoring_devices SET active = false"))
    assert sweep_offline(session, now=NOW + timedelta(hours=1)) == CheckSummary()


def test_last_seen_stays_out_of_the_audit_log(session, world) -> None:
    register_device(session, mn="MN0003", outlet_id=world.outlet, password="pw")
    before = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    touch_devices(session, ["MN0003"], NOW)
    assert session.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == before
    seen = session.execute(text("SELECT last_seen FROM monitoring_devices")).scalar_one()
    assert seen == NOW
    touch_devices(session, ["MN0003"], NOW - timedelta(minutes=1))  # never moved back
    assert session.execute(text("SELECT last_seen FROM monitoring_devices")).scalar_one() == NOW
    touch_devices(session, ["MN0003"], NOW + timedelta(seconds=20))  # within 30 s: kept
    assert session.execute(text("SELECT last_seen FROM monitoring_devices")).scalar_one() == NOW
    touch_devices(session, ["MN0003"], NOW + timedelta(seconds=31))
    seen = session.execute(text("SELECT last_seen FROM monitoring_devices")).scalar_one()
    assert seen == NOW + timedelta(seconds=31)
    register_device(session, mn="MN0003", outlet_id=world.outlet, password="new", interval_s=30)
    entity_id, before, after = session.execute(
        text("SELECT entity_id, before, after FROM audit_log WHERE entity = 'monitoring_devices'"
             " AND action = 'update'")
    ).one()  # fmt: skip
    assert entity_id == "MN0003" and (before["interval_s"], after["interval_s"]) == (60, 30)
    assert not {"password_sha256", "last_seen"} & (set(before) | set(after))


def test_data_events_name_the_outlets_device(session, world) -> None:
    register_device(session, mn="MN0004", outlet_id=world.outlet, password="pw")
    feed(session, [row(world, HOUR, hours(1), 99.0)])
    assert events(session)[0]["mn"] == "MN0004"

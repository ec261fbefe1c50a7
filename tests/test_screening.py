"""Screening: each rule kind inside / outside / on the boundary / in a hole / near the boundary,
the flag lifecycle (idempotent runs, moves, dismissals, zone versions, scoped runs), and the demo's
planted cases."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from geo.screening import Scope, screen
from geo.zones import new_zone_version
from tests.factories import add_region, credit_code

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
# A square zone 106.02–106.04 E, 29.02–29.04 N (about 2 km across) with a 400 m hole.
ZONE = (
    "SRID=4326;MULTIPOLYGON(((106.02 29.02,106.04 29.02,106.04 29.04,106.02 29.04,106.02 29.02),"
    "(106.028 29.028,106.032 29.028,106.032 29.032,106.028 29.032,106.028 29.028)))"
)
OUTSIDE_30M = 106.04 + 30 / 97_400  # 1° of longitude ≈ 97.4 km at 29.03° N
PLACES = {
    "inside": (106.035, 29.035),
    "outside": (106.07, 29.07),
    "on_boundary": (106.04, 29.03),
    "in_hole": (106.03, 29.03),
    "near_boundary": (OUTSIDE_30M, 29.025),
}
RULE_KINDS = [  # zone kind, grade, feature, industry, rule code
    ("water_protection", "I", "unit", "1391", "WP1-UNIT"),
    ("water_protection", "II", "unit", "1391", "WP2-UNIT"),
    ("water_protection", "quasi", "unit", "2221", "WPQ-UNIT"),
    ("water_protection", "II", "outlet", "1391", "WP-OUTLET"),
    ("water_protection", "quasi", "river_outfall", None, "WP-OUTFALL"),
    ("nature_reserve", "core", "unit", "1391", "NR-CORE"),
    ("nature_reserve", "experimental", "unit", "1391", "NR-EXP"),
    ("ecological_redline", None, "unit", "1391", "RL-UNIT"),
    ("control_unit", "priority", "unit", "2614", "CU-ACCESS"),
]
EXPECTED = {  # place → (flagged?, classification)
    "inside": (True, "inside"),
    "outside": (False, None),
    "on_boundary": (True, "near_boundary"),
    "in_hole": (False, None),
    "near_boundary": (True, "near_boundary"),
}


def add_zone(session, kind: str, grade: str | None, code: str = "Z-TEST", geom: str = ZONE) -> None:
    session.execute(
        text("""
        INSERT INTO zones (kind, grade, code, name, geom, source, version, valid_from)
        VALUES (:kind, :grade, :code, '测试区', ST_GeomFromEWKT(:geom), 'test', 1, '2025-01-01')
    """),
        {"kind": kind, "grade": grade, "code": code, "geom": geom},
    )
    if kind == "control_unit":
        session.execute(
            text("""
            INSERT INTO access_list_items (zone_code, dimension, requirement, prohibited_industries)
            VALUES (:code, 'spatial_layout', '禁止新建化工项目', '{26}')
        """),
            {"code": code},
        )


def add_feature(
    session,
    feature: str,
    lon: float,
    lat: float,
    industry: str | None,
    serial: int = 1,
    source: str = "surveyed",
) -> int:
    point = f"SRID=4326;POINT({lon} {lat})"
    if feature == "river_outfall":
        return session.execute(
            text("""
            INSERT INTO river_outfalls (code, name, outfall_type, receiving_water, geom)
            VALUES (:code, '测试排污口', 'industrial', '长江', ST_GeomFromEWKT(:p)) RETURNING id
        """),
            {"code": f"TEST{serial}", "p": point},
        ).scalar_one()
    # An outlet's unit stands far away, so only the outlet can be in the zone.
    unit_point = point if feature == "unit" else "SRID=4326;POINT(106.09 29.09)"
    unit_id = session.execute(
        text("""
        INSERT INTO units (credit_code, name, industry_code, category, county_code, status, geom,
                           location_source)
        VALUES (:code, '测试单位', :industry, 'key', '500116', 'operating',
                ST_GeomFromEWKT(:p), :source) RETURNING id
    """),
        {"code": credit_code(serial), "industry": industry, "p": unit_point, "source": source},
    ).scalar_one()
    if feature == "unit":
        return unit_id
    return session.execute(
        text("""
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        VALUES (:unit, 'DW001', 'water', 'main', ST_GeomFromEWKT(:p), '长江') RETURNING id
    """),
        {"unit": unit_id, "p": point},
    ).scalar_one()


def flags_of(session, feature: str, feature_id: int) -> list:
    return session.execute(
        text("""
        SELECT r.code AS rule, f.classification, f.distance_m, f.status, f.status_reason, f.severity
        FROM flags f JOIN zone_rules r ON r.id = f.rule_id
        WHERE f.feature_type = CAST(:t AS feature_type) AND f.feature_id = :id ORDER BY r.code
    """),
        {"t": feature, "id": feature_id},
    ).all()


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize(("kind", "grade", "feature", "industry", "rule"), RULE_KINDS)
def test_rule_kinds_by_place(session, kind, grade, feature, industry, rule, place) -> None:
    add_region(session)
    add_zone(session, kind, grade)
    feature_id = add_feature(session, feature, *PLACES[place], industry)
    screen(session, now=NOW)
    flags = [f for f in flags_of(session, feature, feature_id) if f.rule == rule]
    flagged, classification = EXPECTED[place]
    if rule == "CU-ACCESS" and place == "near_boundary":
        flagged = False  # an access list binds only inside its own control unit
    assert bool(flags) == flagged
    if flagged:
        assert flags[0].classification == classification
        if place == "near_boundary":
            assert float(flags[0].distance_m) == pytest.approx(-30, abs=1.5)


def test_rule_conditions(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "quasi", "Z-Q")
    add_zone(session, "control_unit", "priority", "Z-CU")
    heavy = add_feature(session, "unit", 106.035, 29.035, "2221", serial=1)
    light = add_feature(session, "unit", 106.036, 29.035, "1391", serial=2)
    screen(session, now=NOW)
    assert [f.rule for f in flags_of(session, "unit", heavy)] == ["CU-PRIORITY", "WPQ-UNIT"]
    assert flags_of(session, "unit", light) == []


def test_uncertain_location_is_a_field_check(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "I")
    unit = add_feature(session, "unit", 106.035, 29.035, "1391", source="converted_gcj02")
    screen(session, now=NOW)
    assert flags_of(session, "unit", unit)[0].classification == "near_boundary"


def test_rerun_is_idempotent(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "I")
    add_feature(session, "unit", 106.035, 29.035, "1391")
    first = screen(session, now=NOW)
    second = screen(session, now=LATER)
    assert (first.detected, second.detected, second.still_open, second.resolved) == (1, 0, 1, 0)
    count, last_seen = session.execute(text("SELECT count(*), max(last_seen) FROM flags")).one()
    assert count == 1 and last_seen == LATER


def _move(session, unit_id: int, lon: float, lat: float) -> None:
    session.execute(
        text("UPDATE units SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) WHERE id = :id"),
        {"x": lon, "y": lat, "id": unit_id},
    )


def test_moving_out_resolves_and_moving_back_reopens(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "I")
    unit = add_feature(session, "unit", 106.035, 29.035, "1391")
    screen(session, now=NOW)
    _move(session, unit, 106.07, 29.07)
    assert screen(session, now=LATER).resolved == 1
    flag = flags_of(session, "unit", unit)[0]
    assert (flag.status, flag.status_reason) == ("resolved", "the feature was moved or removed")
    _move(session, unit, 106.035, 29.035)
    assert screen(session, now=LATER).reopened == 1
    events = session.execute(text("SELECT event FROM flag_events ORDER BY id")).scalars().all()
    assert events == ["detected", "resolved", "reopened"]


def test_dismissed_stays_dismissed_until_the_geometry_changes(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "I")
    unit = add_feature(session, "unit", 106.035, 29.035, "1391")
    screen(session, now=NOW)
    session.execute(
        text(
            "UPDATE flags SET status = 'dismissed', status_reason = '已取得豁免', reviewer = '张三'"
        )
    )
    screen(session, now=LATER)
    assert flags_of(session, "unit", unit)[0].status == "dismissed"
    _move(session, unit, 106.036, 29.035)
    screen(session, now=LATER)
    assert flags_of(session, "unit", unit)[0].status == "open"
    detail = session.execute(
        text("SELECT detail FROM flag_events WHERE event = 'reopened'")
    ).scalar_one()
    assert detail == "geometry changed since it was dismissed"


def test_new_zone_version_that_no_longer_holds_the_feature_resolves_it(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "I")
    inside_both = add_feature(session, "unit", 106.022, 29.022, "1391", serial=1)
    inside_old = add_feature(session, "unit", 106.035, 29.035, "1391", serial=2)
    screen(session, now=NOW)
    smaller = (
        "SRID=4326;POLYGON((106.02 29.02,106.025 29.02,106.025 29.025,106.02 29.025,106.02 29.02))"
    )
    new_zone_version(
        session, now=LATER, code="Z-TEST", geometry_ewkt=smaller, valid_from=date(2026, 1, 1)
    )
    # No separate run: the new version re-screened what the zone touches, in this transaction.
    assert flags_of(session, "unit", inside_both)[0].status == "open"
    gone = flags_of(session, "unit", inside_old)[0]
    assert gone.status == "resolved"
    assert gone.status_reason == "zone version 2 of Z-TEST no longer holds the feature"
    moved_on = session.execute(
        text("SELECT detail FROM flag_events WHERE event = 'zone_version'")
    ).scalar_one()
    assert moved_on == "now checked against zone version 2"


def test_scoped_run_touches_only_its_scope(session) -> None:
    add_region(session)
    add_zone(session, "water_protection", "I")
    first = add_feature(session, "unit", 106.035, 29.035, "1391", serial=1)
    second = add_feature(session, "unit", 106.036, 29.035, "1391", serial=2)
    screen(session, now=NOW)
    _move(session, first, 106.07, 29.07)
    _move(session, second, 106.07, 29.071)
    summary = screen(session, now=LATER, scope=Scope(unit_ids=(first,)))
    assert summary.resolved == 1
    assert flags_of(session, "unit", first)[0].status == "resolved"
    assert flags_of(session, "unit", second)[0].status == "open"

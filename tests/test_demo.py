"""The demo province: deterministic, on real geography, and its planted cases really are where
data/demo/README.md says."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from data.demo.loader import write_demo
from data.demo.options import DemoOptions
from data.demo.province import build_demo
from data.demo.readme import planted_cases_markdown
from geo.screening import screen
from tests.conftest import TEST_AS_OF

OPTIONS = DemoOptions(units=3_000, as_of=TEST_AS_OF)
README = Path(__file__).resolve().parents[1] / "data" / "demo" / "README.md"


@pytest.fixture(scope="module")
def demo():
    return build_demo(OPTIONS)


@pytest.fixture(scope="module")
def loaded(engine, demo):
    write_demo(engine, demo)
    return demo


def test_same_seed_same_data(demo) -> None:
    again = build_demo(OPTIONS)
    for table, frame in demo.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[table], obj=table)


def test_other_seed_other_data(demo) -> None:
    other = build_demo(DemoOptions(units=3_000, seed=OPTIONS.seed + 1, as_of=TEST_AS_OF))
    assert not demo.tables["units"]["credit_code"].equals(other.tables["units"]["credit_code"])
    assert not demo.tables["zones"]["geom"].equals(other.tables["zones"]["geom"])


def test_planted_cases_do_not_depend_on_unit_count(demo) -> None:
    smaller = build_demo(DemoOptions(units=500, as_of=TEST_AS_OF))
    assert planted_cases_markdown(smaller) == planted_cases_markdown(demo)


def test_readme_lists_the_default_planted_cases(demo) -> None:
    assert planted_cases_markdown(demo) in README.read_text(encoding="utf-8")


def test_real_counties_of_chongqing(loaded, session) -> None:
    counts = dict(
        session.execute(text("SELECT level, count(*) FROM admin_regions GROUP BY level")).all()
    )
    assert counts == {"province": 1, "county": 38}
    names = set(session.execute(text("SELECT name FROM admin_regions")).scalars())
    assert {"渝中区", "江津区", "巫山县", "石柱土家族自治县"} <= names


def test_every_unit_outlet_and_outfall_inside_the_province(loaded, session) -> None:
    outside = session.execute(
        text("""
        WITH province AS (SELECT geom FROM admin_regions WHERE level = 'province')
        SELECT (SELECT count(*) FROM units u, province p WHERE NOT ST_Covers(p.geom, u.geom)),
               (SELECT count(*) FROM river_outfalls o, province p
                 WHERE NOT ST_DWithin(p.geom::geography, o.geom::geography, 3000))
    """)
    ).one()
    assert outside == (0, 0)


def test_units_carry_the_county_they_stand_in(loaded, session) -> None:
    mismatched = session.execute(
        text("""
        SELECT count(*) FROM units u JOIN admin_regions c ON c.code = u.county_code
        WHERE NOT ST_DWithin(c.geom, u.geom, 0.001)
    """)
    ).scalar()
    assert mismatched == 0


def test_control_units_tile_each_county_without_overlap(loaded, session) -> None:
    overlaps = session.execute(
        text("""
        SELECT count(*) FROM zones a JOIN zones b
          ON a.kind = 'control_unit' AND b.kind = 'control_unit' AND a.id < b.id
         AND ST_Intersects(a.geom, b.geom)
        WHERE ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 1000
    """)
    ).scalar()
    coverage = session.execute(
        text("""
        SELECT min(covered / total) FROM (
          SELECT ST_Area(c.geom::geography) AS total,
                 ST_Area(ST_Union(z.geom)::geography) AS covered
          FROM admin_regions c JOIN zones z ON z.parent_code = c.code AND z.kind = 'control_unit'
          GROUP BY c.code, c.geom) per_county
    """)
    ).scalar()
    assert overlaps == 0
    assert coverage == pytest.approx(1.0, abs=0.002)


def test_protection_zones_nest_around_their_intake(loaded, session) -> None:
    rows = session.execute(
        text("""
        SELECT one.code,
               ST_Area(ST_Intersection(one.geom, two.geom)::geography),
               ST_Intersects(one.geom, two.geom)
        FROM zones one JOIN zones two ON two.parent_code = one.parent_code AND two.grade = 'II'
        WHERE one.kind = 'water_protection' AND one.grade = 'I'
    """)
    ).all()
    assert len(rows) >= 30
    assert all(area < 1.0 and touching for _, area, touching in rows)
    holes = session.execute(
        text("""
        SELECT count(*) FROM zones, ST_Dump(geom) d
        WHERE kind = 'water_protection' AND ST_NumInteriorRings(d.geom) > 0
    """)
    ).scalar()
    assert holes > 0


def test_river_network_is_directed_to_one_outlet(loaded, session) -> None:
    outlets = session.execute(
        text("""
        SELECT count(DISTINCT r.to_node) FROM rivers r
        WHERE NOT EXISTS (SELECT 1 FROM rivers d WHERE d.from_node = r.to_node)
    """)
    ).scalar()
    named_main = (
        session.execute(text("SELECT DISTINCT name FROM rivers WHERE is_main")).scalars().all()
    )
    assert outlets == 1
    assert named_main == ["长江"]


def test_permits_have_realistic_states(loaded, session) -> None:
    states = session.execute(
        text("""
        SELECT count(*) FILTER (WHERE p.status = 'expired'),
               count(*) FILTER (WHERE p.status = 'valid' AND valid_to <= CAST(:as_of AS date) + 90),
               count(*) FILTER (WHERE p.status IN ('revoked', 'withdrawn', 'cancelled')),
               count(*) FILTER (WHERE p.kind = 'registration' AND u.category <> 'registration'),
               count(*) FILTER (WHERE p.status = 'valid' AND valid_to < CAST(:as_of AS date))
        FROM permits p JOIN units u ON u.id = p.unit_id
    """),
        {"as_of": TEST_AS_OF},
    ).one()
    expired, expiring, ended, mismatched, stale = states
    assert expired > 0 and expiring > 0 and ended > 0
    assert mismatched == 0 and stale == 0


def test_outlets_sit_near_their_unit(loaded, session) -> None:
    far = session.execute(
        text("""
        SELECT count(*) FROM outlets o JOIN units u ON u.id = o.unit_id
        WHERE ST_Distance(o.geom::geography, u.geom::geography) > 400
    """)
    ).scalar()
    assert far <= 1  # the planted outlet case O01 stands 300 m from its unit


def _inside(session, table: str, name_like: str, zone_code: str) -> bool:
    return session.execute(
        text(f"""
        SELECT ST_Within(f.geom, z.geom)
           AND ST_Distance(f.geom::geography, ST_Boundary(z.geom)::geography) >= 50
        FROM {table} f, current_zones z WHERE f.name LIKE :name AND z.code = :zone
    """),
        {"name": name_like, "zone": zone_code},
    ).scalar()


def test_planted_units_and_outfalls_sit_inside_their_zones(loaded, session) -> None:
    cases = [c for c in loaded.planted if c.expectation == "inside"]
    assert len(cases) == 12
    for case in cases:
        if case.feature == "outlet":
            inside = session.execute(
                text("""
                SELECT ST_Within(o.geom, z.geom) FROM outlets o JOIN units u ON u.id = o.unit_id,
                       zones z WHERE u.name LIKE :name AND o.code = 'DW001' AND z.code = :zone
            """),
                {"name": f"%{case.key}%", "zone": case.zone_code},
            ).scalar()
        else:
            table = "units" if case.feature == "unit" else "river_outfalls"
            inside = _inside(session, table, f"%{case.key}%", case.zone_code)
        assert inside, case.key


def test_negative_and_near_boundary_cases(loaded, session) -> None:
    in_water_zone = session.execute(
        text("""
        SELECT u.name, count(z.id) FROM units u LEFT JOIN zones z
          ON z.kind = 'water_protection' AND ST_Intersects(z.geom, u.geom)
        WHERE u.name LIKE '%U08%' OR u.name LIKE '%O01%' GROUP BY u.name
    """)
    ).all()
    assert len(in_water_zone) == 2 and all(count == 0 for _, count in in_water_zone)
    near = next(c for c in loaded.planted if c.expectation == "near_boundary")
    distance, within = session.execute(
        text("""
        SELECT ST_Distance(u.geom::geography, z.geom::geography), ST_Within(u.geom, z.geom)
        FROM units u, zones z WHERE u.name LIKE :name AND z.code = :zone
    """),
        {"name": f"%{near.key}%", "zone": near.zone_code},
    ).one()
    assert not within and 20 <= distance <= 40
    converted = session.execute(
        text("SELECT location_source FROM units WHERE name LIKE '%U10%'")
    ).scalar()
    assert converted == "converted_gcj02"


def test_bad_check_digits_are_flagged_not_rejected(loaded, session) -> None:
    flagged = session.execute(text("SELECT count(*) FROM units WHERE NOT credit_code_ok")).scalar()
    assert 0 < flagged < 60


def test_another_province_with_cities() -> None:
    hubei = build_demo(DemoOptions(units=400, province="420000", as_of=TEST_AS_OF))
    regions = hubei.tables["admin_regions"]
    assert set(regions["level"]) == {"province", "city", "county"}
    assert regions["code"].is_unique
    assert set(regions["parent_code"].dropna()) <= set(regions["code"])
    assert len(hubei.tables["units"]) == 400
    assert {"water_protection", "control_unit", "ecological_redline"} <= set(
        hubei.tables["zones"]["kind"]
    )


def test_unknown_province_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown province"):
        build_demo(DemoOptions(units=10, province="990000", as_of=TEST_AS_OF))


def _flags_by_planted_key(session) -> list:
    return session.execute(
        text("""
        SELECT substring(coalesce(u.name, uo.name, r.name) FROM '[URO][0-9][0-9]') AS key,
               f.feature_type, f.zone_code, f.severity, f.classification
        FROM flags f
        LEFT JOIN units u ON f.feature_type = 'unit' AND u.id = f.feature_id
        LEFT JOIN outlets o ON f.feature_type = 'outlet' AND o.id = f.feature_id
        LEFT JOIN units uo ON uo.id = o.unit_id
        LEFT JOIN river_outfalls r ON f.feature_type = 'river_outfall' AND r.id = f.feature_id
    """)
    ).all()


def test_screening_finds_the_planted_cases_and_nothing_else_prohibited(loaded, session) -> None:
    screen(session, now=datetime(2026, 11, 24, tzinfo=UTC))
    flags = _flags_by_planted_key(session)
    keys = {case.key for case in loaded.planted}
    strays = [f for f in flags if f.severity == "prohibited" and f.key not in keys]
    assert strays == []
    found = {(f.key, f.zone_code) for f in flags}
    for case in loaded.planted:
        if case.expectation in ("inside", "near_boundary"):
            assert (case.key, case.zone_code) in found, case.key
    assert not [f for f in flags if f.key == "U08" and f.zone_code.startswith("SY")]
    classes = {(f.key, f.zone_code): f.classification for f in flags}
    near = next(c for c in loaded.planted if c.key == "U09")
    assert classes[("U09", near.zone_code)] == "near_boundary"
    assert {classes[k] for k in classes if k[0] == "U10"} == {"near_boundary"}

"""Schema constraints and triggers, on a real PostGIS."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.factories import COUNTY, add_permit, add_region, add_unit, credit_code


@pytest.fixture
def region(session):
    add_region(session)
    return session


def test_duplicate_permit_number_rejected(region) -> None:
    code = credit_code(1)
    unit_id = add_unit(region, code)
    add_permit(region, unit_id, f"{code}001P")
    with pytest.raises(IntegrityError, match="permits_permit_no_key"), region.begin_nested():
        add_permit(region, unit_id, f"{code}001P")


@pytest.mark.parametrize("bad", ["91500116MA5U7C12IO", "9150011", "91500116ma5u7c123x"])
def test_malformed_credit_code_rejected(region, bad: str) -> None:
    with pytest.raises(IntegrityError, match="credit_code_format"), region.begin_nested():
        add_unit(region, bad)


def test_wrong_check_digit_kept_and_flagged(region) -> None:
    good = credit_code(2)
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    add_unit(region, good)
    add_unit(region, wrong)
    flags = dict(region.execute(text("SELECT credit_code, credit_code_ok FROM units")).all())
    assert flags == {good: True, wrong: False}


def test_second_site_of_one_enterprise_allowed_but_not_twice(region) -> None:
    code = credit_code(3)
    add_unit(region, code, site_seq=1)
    add_unit(region, code, site_seq=2)
    with pytest.raises(IntegrityError, match="uq_units_credit_code_site"), region.begin_nested():
        add_unit(region, code, site_seq=2)


@pytest.mark.parametrize("permit_no", ["91500116MA5U7C123", "91500116000000019X001p", "X" * 22])
def test_malformed_permit_number_rejected(region, permit_no: str) -> None:
    unit_id = add_unit(region, credit_code(4))
    with pytest.raises(IntegrityError, match="permit_no_format"), region.begin_nested():
        add_permit(region, unit_id, permit_no)


def test_unknown_industry_code_rejected(region) -> None:
    with pytest.raises(IntegrityError, match="units_industry_code_fkey"), region.begin_nested():
        region.execute(
            text("""
            INSERT INTO units (credit_code, name, industry_code, category, county_code, status,
                               geom, location_source)
            VALUES (:code, 'x', '9999', 'key', :county, 'operating',
                    ST_GeomFromEWKT('SRID=4326;POINT(106 29)'), 'surveyed')
        """),
            {"code": credit_code(5), "county": COUNTY},
        )


def _outlet(session, unit_id: int, code: str, medium: str, water: str | None = None) -> None:
    session.execute(
        text("""
        INSERT INTO outlets (unit_id, code, medium, kind, geom, receiving_water)
        VALUES (:unit, :code, :medium, 'main', ST_GeomFromEWKT('SRID=4326;POINT(106 29)'), :water)
    """),
        {"unit": unit_id, "code": code, "medium": medium, "water": water},
    )


def test_outlet_code_must_match_medium(region) -> None:
    unit_id = add_unit(region, credit_code(6))
    _outlet(region, unit_id, "DW001", "water", "长江")
    _outlet(region, unit_id, "DA001", "air")
    with pytest.raises(IntegrityError, match="code_matches_medium"), region.begin_nested():
        _outlet(region, unit_id, "DA002", "water")
    with pytest.raises(IntegrityError, match="code_format"), region.begin_nested():
        _outlet(region, unit_id, "DX001", "air")


def _zone(
    session,
    code: str,
    geom: str,
    kind: str = "water_protection",
    grade: str | None = "I",
    version: int = 1,
    valid_from: str = "2025-01-01",
    valid_to: str | None = None,
):
    return session.execute(
        text("""
        INSERT INTO zones (kind, grade, code, name, geom, source, version, valid_from, valid_to)
        VALUES (:kind, :grade, :code, '测试水源一级保护区', ST_GeomFromEWKT(:geom), 'test',
                :version, :valid_from, :valid_to)
        RETURNING ST_IsValid(geom), ST_GeometryType(geom), ST_Area(geom)
    """),
        {
            "kind": kind,
            "grade": grade,
            "code": code,
            "geom": geom,
            "version": version,
            "valid_from": valid_from,
            "valid_to": valid_to,
        },
    ).one()


def test_invalid_polygon_made_valid_on_write(session) -> None:
    bowtie = "SRID=4326;MULTIPOLYGON(((106 29,106.1 29.1,106.1 29,106 29.1,106 29)))"
    valid, geometry_type, area = _zone(session, "SY-BOWTIE", bowtie)
    assert valid and geometry_type == "ST_MultiPolygon"
    assert area == pytest.approx(0.005, rel=1e-6)  # two triangles, not zero


def test_polygon_without_area_rejected(session) -> None:
    flat = "SRID=4326;MULTIPOLYGON(((106 29,106.1 29,106.2 29,106 29)))"
    with pytest.raises(IntegrityError, match="no area"), session.begin_nested():
        _zone(session, "SY-FLAT", flat)


def test_zone_grade_must_belong_to_kind(session) -> None:
    square = "SRID=4326;MULTIPOLYGON(((106 29,106.1 29,106.1 29.1,106 29.1,106 29)))"
    with pytest.raises(IntegrityError, match="grade_matches_kind"), session.begin_nested():
        _zone(session, "ZH500116", square, kind="control_unit", grade="I")


def test_zone_versions_cannot_overlap_in_time(session) -> None:
    square = "SRID=4326;MULTIPOLYGON(((106 29,106.1 29,106.1 29.1,106 29.1,106 29)))"
    _zone(session, "SY-V", square, version=1, valid_from="2024-01-01", valid_to="2025-01-01")
    _zone(session, "SY-V", square, version=2, valid_from="2025-01-01")
    with pytest.raises(IntegrityError, match="zones_one_version_at_a_time"), session.begin_nested():
        _zone(session, "SY-V", square, version=3, valid_from="2025-06-01")


def test_every_geometry_column_has_a_gist_index(session) -> None:
    missing = (
        session.execute(
            text("""
        SELECT f_table_name FROM geometry_columns g
        JOIN pg_class c ON c.relname = g.f_table_name AND c.relkind = 'r'
        WHERE f_table_schema = 'public'
          AND NOT EXISTS (
            SELECT 1 FROM pg_indexes i
            WHERE i.tablename = g.f_table_name AND i.indexdef ILIKE '%USING gist (' ||
                  g.f_geometry_column || ')%')
    """)
        )
        .scalars()
        .all()
    )
    assert missing == []


def test_permit_history_records_every_change_and_is_append_only(region) -> None:
    code = credit_code(7)
    permit_id = add_permit(region, add_unit(region, code), f"{code}001P")
    region.execute(text("SET LOCAL permitmap.change_note = '延续申请已批准'"))
    region.execute(
        text("UPDATE permits SET valid_to = '2033-12-31' WHERE id = :id"), {"id": permit_id}
    )
    region.execute(text("UPDATE permits SET status = 'revoked' WHERE id = :id"), {"id": permit_id})
    history = region.execute(
        text(
            "SELECT change, note, before->>'valid_to', after->>'valid_to' FROM permit_history "
            "WHERE permit_id = :id ORDER BY id"
        ),
        {"id": permit_id},
    ).all()
    assert [row[0] for row in history] == ["issue", "renewal", "revoke"]
    assert history[1][1:] == ("延续申请已批准", "2028-12-31", "2033-12-31")
    with pytest.raises(DBAPIError, match="append-only"), region.begin_nested():
        region.execute(
            text("UPDATE permit_history SET change = 'x' WHERE permit_id = :id"), {"id": permit_id}
        )
    with pytest.raises(DBAPIError, match="append-only"), region.begin_nested():
        region.execute(text("DELETE FROM permit_history WHERE permit_id = :id"), {"id": permit_id})


def test_updated_at_moves_on_update(region) -> None:
    unit_id = add_unit(region, credit_code(8))
    region.execute(
        text(
            "UPDATE units SET created_at = now() - interval '1 day', "
            "updated_at = now() - interval '1 day' WHERE id = :id"
        ),
        {"id": unit_id},
    )
    region.execute(text("UPDATE units SET name = '改名' WHERE id = :id"), {"id": unit_id})
    fresh = region.execute(
        text("SELECT updated_at > created_at FROM units WHERE id = :id"), {"id": unit_id}
    ).scalar()
    assert fresh
